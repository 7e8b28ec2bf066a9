-- Release files list SHA512 beside SHA256, and apt then fetches indices by
-- their SHA512 (by-hash/SHA512/...). Files of publications made before have
-- none (null): their Release files list SHA256 only.
alter table apt_publication_files add column sha512 text;
create index apt_publication_files_sha512_idx on apt_publication_files (sha512);
