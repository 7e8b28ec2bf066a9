-- An index's entries were a row each in apt_index_entries (with two foreign
-- keys and three indexes: a third of the database's work when packages are
-- added). Now a binary and a source carry their chunk: numbered per suite and
-- component, in the order they were added, a few hundred entries each; every
-- index of the component (each architecture's Packages, its Sources) groups
-- its entries by these chunks.
alter table apt_binaries add column chunk integer;
alter table apt_sources add column chunk integer;
update apt_binaries b set chunk = n.chunk
  from (select id, ((row_number() over (partition by suite_id, component order by id)) - 1) / 256 as chunk
        from apt_binaries) n
  where n.id = b.id;
update apt_sources s set chunk = n.chunk
  from (select id, ((row_number() over (partition by suite_id, component order by id)) - 1) / 256 as chunk
        from apt_sources) n
  where n.id = s.id;
alter table apt_binaries alter column chunk set not null;
alter table apt_sources alter column chunk set not null;
create index apt_binaries_chunk_idx on apt_binaries (suite_id, component, chunk);
create index apt_sources_chunk_idx on apt_sources (suite_id, component, chunk);
drop table apt_index_entries;

-- Every chunk is rebuilt at the next publication, from the new numbering. The
-- files of the old chunks stay while a kept publication names them.
delete from apt_index_chunks;
alter table apt_index_chunks drop column entries;
insert into apt_index_chunks (index_id, chunk, dirty)
  select distinct i.id, b.chunk, true
  from apt_indices i
    join apt_binaries b on b.suite_id = i.suite_id and b.component = i.component
      and (b.architecture = i.architecture or b.architecture = 'all')
  where i.kind = 'packages'
  union
  select distinct i.id, s.chunk, true
  from apt_indices i
    join apt_sources s on s.suite_id = i.suite_id and s.component = i.component
  where i.kind = 'sources';
