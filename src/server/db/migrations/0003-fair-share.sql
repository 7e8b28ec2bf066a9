-- Fair share: the queue counts a partition's waiting time from its last claim,
-- so each claim looks up the latest start of each (workspace, submitter)
-- partition that has pending tasks.
create index tasks_partition_started_idx
  on tasks (workspace_id, (coalesce(created_by, 0)), started_at)
  where started_at is not null;
