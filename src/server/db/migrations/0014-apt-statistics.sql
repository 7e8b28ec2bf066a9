-- A stanza is never searched: statistics on it cost ANALYZE most of its time
-- on apt_binaries (20,000 packages: 390 ms of a server's upkeep) for no plan.
alter table apt_binaries alter column stanza set statistics 0;
alter table apt_sources alter column stanza set statistics 0;
-- A file is declared incomplete and then marked complete once its content is
-- uploaded: with room left on each page, that update stays on the page (a HOT
-- update) instead of adding to both of the table's indexes.
alter table artifact_files set (fillfactor = 50);
