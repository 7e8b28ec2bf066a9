-- The pool's and the binaries' foreign keys checked every added row on its
-- own (a lookup and a row lock per row: 20,000 .debs, about 60 % of the time
-- their inserts took). Statement triggers keep what the keys promised, once
-- per statement; an include holds the rows its pool rows refer to (see
-- `holdForInclude`), as the keys' checks did.
alter table apt_pool drop constraint apt_pool_repository_id_fkey;
alter table apt_pool drop constraint apt_pool_artifact_id_fkey;
alter table apt_binaries drop constraint apt_binaries_suite_id_fkey;

-- A deleted repository's pool goes with it (was: on delete cascade).
create function kiln_apt_repositories_deleted() returns trigger language plpgsql as $$
begin
  delete from apt_pool where repository_id in (select id from gone);
  return null;
end;
$$;
create trigger apt_repositories_deleted after delete on apt_repositories
  referencing old table as gone
  for each statement execute function kiln_apt_repositories_deleted();

-- A deleted suite's binaries go with it (was: on delete cascade).
create function kiln_apt_suites_deleted() returns trigger language plpgsql as $$
begin
  delete from apt_binaries where suite_id in (select id from gone);
  return null;
end;
$$;
create trigger apt_suites_deleted after delete on apt_suites
  referencing old table as gone
  for each statement execute function kiln_apt_suites_deleted();

-- An artifact a pool uses cannot be deleted (was: the key's NO ACTION check),
-- with the key's error code and name. Before the row goes, so that this
-- reason is given rather than another's; the row is locked by then, so an
-- include holding it has committed its pool rows, which this sees.
create function kiln_artifacts_deleting() returns trigger language plpgsql as $$
begin
  if exists (select 1 from apt_pool where artifact_id = old.id) then
    raise exception 'artifact % is in an APT repository''s pool', old.id
      using errcode = 'foreign_key_violation', constraint = 'apt_pool_artifact_id_fkey';
  end if;
  return old;
end;
$$;
create trigger artifacts_deleting before delete on artifacts
  for each row execute function kiln_artifacts_deleting();
