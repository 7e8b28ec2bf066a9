-- Ending a task revokes its task tokens by task id: without an index each end
-- scans every token ever issued, one per task attempt.
create index tokens_task_idx on tokens (task_id) where task_id is not null;
