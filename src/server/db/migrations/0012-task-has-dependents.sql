-- A task that nothing waits for ends in one statement, without a transaction
-- to look for dependents: the flag is on the task's own row, so the ending's
-- UPDATE re-reads it after waiting for a submission that just added a
-- dependent (a subquery on task_dependencies would still see the old snapshot).
alter table tasks add column has_dependents boolean not null default false;
update tasks set has_dependents = true
  where id in (select depends_on from task_dependencies);
