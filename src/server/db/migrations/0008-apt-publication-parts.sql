-- An index file is published as the chunks it is made of (apt_publication_files.parts)
-- rather than stored again whole; the garbage collector keeps every part a kept
-- publication names, and finds them through this index.
create index apt_publication_files_parts_idx on apt_publication_files using gin (parts);
