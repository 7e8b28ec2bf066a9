-- Workflows: templates registered per workspace (a built-in workflow's name
-- and fixed parameters), runs of them, the events of runs and of their tasks,
-- and the wake-ups that tell the engine a run's task changed.

create table workflow_templates (
  id bigint generated always as identity primary key,
  workspace_id bigint not null references workspaces on delete cascade,
  name text not null,
  workflow text not null,
  parameters jsonb not null default '{}',
  -- Times a task that errored (the farm's fault) is retried before it counts.
  max_retries integer not null default 2,
  created_by bigint references users on delete set null,
  created_at timestamptz not null default now(),
  unique (workspace_id, name)
);

create table workflow_runs (
  id bigint generated always as identity primary key,
  workspace_id bigint not null references workspaces on delete cascade,
  template_id bigint references workflow_templates on delete set null,
  template_name text not null,
  workflow text not null,
  -- the template's fixed parameters merged with the run-time ones
  parameters jsonb not null,
  trigger jsonb not null,
  status text not null check (status in ('running', 'aborted', 'completed')),
  result text check (result in ('success', 'failure', 'error', 'neutral')),
  message text,
  max_retries integer not null,
  -- a run supersedes the still-running runs of its workspace with its key
  supersede_key text,
  superseded_by bigint references workflow_runs on delete set null,
  parent_run_id bigint references workflow_runs on delete set null,
  -- the artifact the run is tied to: it goes when that artifact goes
  artifact_id bigint references artifacts on delete cascade,
  created_by bigint references users on delete set null,
  created_at timestamptz not null default now(),
  completed_at timestamptz,
  expires_at timestamptz,
  check ((status = 'running') = (result is null))
);
create index workflow_runs_workspace_idx on workflow_runs (workspace_id, id);
create index workflow_runs_running_idx on workflow_runs (id) where status = 'running';
create index workflow_runs_key_idx on workflow_runs (workspace_id, supersede_key)
  where status = 'running' and supersede_key is not null;
create index workflow_runs_expiry_idx on workflow_runs (expires_at) where expires_at is not null;
create index workflow_runs_artifact_idx on workflow_runs (artifact_id) where artifact_id is not null;

-- A run's tasks: the step of the run each one is, and how often the engine retried it.
alter table tasks add column run_id bigint references workflow_runs on delete set null;
alter table tasks add column run_step text;
alter table tasks add column run_retries integer not null default 0;
create unique index tasks_run_step_idx on tasks (run_id, run_step) where run_id is not null;

-- What happened to runs and their tasks, in order: notifications and live
-- views read it (and hear of each new row on the kiln_workflow_event channel).
create table workflow_events (
  id bigint generated always as identity primary key,
  run_id bigint not null references workflow_runs on delete cascade,
  kind text not null check (kind in ('run-started', 'run-ended', 'task-ended')),
  task_id bigint,
  data jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create index workflow_events_run_idx on workflow_events (run_id, id);

-- Runs whose tasks changed since the engine last looked at them.
create table workflow_run_wakeups (
  id bigint generated always as identity primary key,
  run_id bigint not null
);
create index workflow_run_wakeups_run_idx on workflow_run_wakeups (run_id);

-- Whatever ends a task of a run (a worker's result, a server task, a lease
-- lost for good, a cancel, a failed dependency) or brings it back (a retry)
-- wakes the run's engine in the same transaction: no code path can forget to,
-- and a server that dies before the engine acts leaves the wake-up behind.
create function kiln_wake_workflow_run() returns trigger language plpgsql as $$
declare
  event_id bigint;
begin
  insert into workflow_run_wakeups (run_id) values (new.run_id);
  perform pg_notify('kiln_workflow_run', new.run_id::text);
  if new.state in ('completed', 'cancelled') then
    insert into workflow_events (run_id, kind, task_id, data)
    values (new.run_id, 'task-ended', new.id, jsonb_build_object(
      'step', new.run_step, 'type', new.type, 'state', new.state, 'result', new.result,
      'reason', new.reason, 'message', new.message))
    returning id into event_id;
    perform pg_notify('kiln_workflow_event', event_id::text);
  end if;
  return null;
end
$$;
create trigger tasks_wake_workflow_run after update of state on tasks
  for each row
  when (new.run_id is not null
    and (old.state in ('completed', 'cancelled')) <> (new.state in ('completed', 'cancelled')))
  execute function kiln_wake_workflow_run();
