-- The scheduler: workers, tasks with requirements and dependencies, attempts
-- with leases, task tokens, and live log chunks.

create table workers (
  id bigint generated always as identity primary key,
  name text not null unique,
  enabled boolean not null default true,
  -- static metadata, declared at enrolment
  architectures text[] not null default '{}',
  cross_architectures text[] not null default '{}',
  executors text[] not null default '{}',
  cores integer not null default 1,
  memory bigint not null default 0,
  disk bigint not null default 0,
  tags text[] not null default '{}',
  version text not null default '',
  -- dynamic metadata, from heartbeats
  load real,
  free_disk bigint,
  enrolled_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now()
);

alter table tokens add column worker_id bigint references workers on delete cascade;
alter table tokens add column task_id bigint;
alter table tokens add column task_attempt integer;
create index tokens_worker_idx on tokens (worker_id) where worker_id is not null;

alter table workspaces add column max_running_tasks integer;

create table tasks (
  id bigint generated always as identity primary key,
  workspace_id bigint not null references workspaces on delete cascade,
  type text not null,
  input jsonb not null default '{}',
  runs_on text not null check (runs_on in ('worker', 'server')),
  -- requirements a worker must meet
  architecture text,
  host_architecture text,
  executor text,
  min_memory bigint not null default 0,
  min_disk bigint not null default 0,
  tags text[] not null default '{}',
  -- scheduling: score = base_score + priority; queue_key orders a partition's
  -- queue by score plus minutes waited (time-invariant: score - created/60)
  base_score integer not null default 0,
  priority integer not null default 0,
  queue_key double precision not null,
  state text not null check (state in ('blocked', 'pending', 'running', 'completed', 'cancelled')),
  result text check (result in ('success', 'failure', 'error')),
  reason text,
  message text,
  output jsonb,
  created_by bigint references users on delete set null,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  time_limit integer not null,
  -- attempts and the current lease
  attempt integer not null default 0,
  lost_leases integer not null default 0,
  max_lost_leases integer not null default 3,
  worker_id bigint references workers on delete set null,
  lease_expires_at timestamptz,
  cancel_requested boolean not null default false,
  log_artifact_id bigint references artifacts on delete set null,
  check ((state = 'completed') = (result is not null))
);
-- The queue: one partition per (workspace, submitter) for fair share, each
-- ordered by queue_key. coalesce() keeps tasks of deleted users in one partition.
create index tasks_pending_idx
  on tasks (runs_on, workspace_id, (coalesce(created_by, 0)), queue_key desc, id)
  where state = 'pending';
create index tasks_running_idx on tasks (workspace_id, (coalesce(created_by, 0)))
  where state = 'running';
create index tasks_lease_idx on tasks (lease_expires_at) where state = 'running';
create index tasks_worker_idx on tasks (worker_id) where state = 'running';
create index tasks_workspace_idx on tasks (workspace_id, id);
create index tasks_blocked_idx on tasks (id) where state = 'blocked';

create table task_dependencies (
  task_id bigint not null references tasks on delete cascade,
  depends_on bigint not null references tasks on delete cascade,
  primary key (task_id, depends_on)
);
create index task_dependencies_reverse_idx on task_dependencies (depends_on);

-- The artifacts a task reads (its task token may download them) and writes.
create table task_artifacts (
  task_id bigint not null references tasks on delete cascade,
  artifact_id bigint not null references artifacts on delete cascade,
  role text not null check (role in ('input', 'output')),
  primary key (task_id, artifact_id, role)
);
create index task_artifacts_artifact_idx on task_artifacts (artifact_id);

create table task_attempts (
  task_id bigint not null references tasks on delete cascade,
  attempt integer not null,
  worker_id bigint references workers on delete set null,
  worker_name text not null,
  started_at timestamptz not null default now(),
  ended_at timestamptz,
  outcome text,
  primary key (task_id, attempt)
);

create table task_log_chunks (
  task_id bigint not null references tasks on delete cascade,
  attempt integer not null,
  seq bigint generated always as identity,
  data text not null,
  created_at timestamptz not null default now(),
  primary key (task_id, seq)
);

alter table artifacts add column created_by_task bigint references tasks on delete set null;
