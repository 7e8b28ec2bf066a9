-- Triggers and notifications (DESIGN.md: trigger; Interfaces: webhooks).
--
-- A trigger starts runs of a workspace's workflow template when a ref that
-- matches one of its globs is pushed: a forge webhook (github, gitlab, gitea,
-- forgejo) or the post-receive hook `kiln hook install` puts in a bare
-- repository (git). Its secret verifies what arrives (an HMAC key, GitLab's
-- token, the git hook's token), so it must be readable by the server: it is
-- kept sealed (AES-256-GCM under a key derived from the signer's passphrase,
-- which every replica already shares), never in the clear, and never shown
-- again after creation.
create table triggers (
  id bigint generated always as identity primary key,
  workspace_id bigint not null references workspaces on delete cascade,
  name text not null,
  kind text not null check (kind in ('github', 'gitlab', 'gitea', 'forgejo', 'git')),
  template text not null,
  -- globs on full ref names: refs/heads/main, refs/tags/v*
  refs text[] not null,
  -- where runs fetch from; forges send their own clone URL, a git hook has this
  repository_url text,
  -- the pull-request comment that starts a run (e.g. /kiln build); null: none
  command text,
  secret_sealed text not null,
  created_by bigint references users on delete set null,
  created_at timestamptz not null default now(),
  unique (workspace_id, name)
);

-- What arrived at a trigger. A delivery id, and a forge payload's digest, are
-- accepted once (the unique constraints are the replay check, shared by every
-- replica); a git hook's payload digest is null, since pushing the same change
-- again is legitimate.
create table trigger_deliveries (
  id bigint generated always as identity primary key,
  trigger_id bigint not null references triggers on delete cascade,
  delivery_id text not null,
  payload_sha256 text,
  event text not null,
  outcome text not null default 'received'
    check (outcome in ('received', 'started', 'ignored', 'failed')),
  message text,
  received_at timestamptz not null default now(),
  unique (trigger_id, delivery_id),
  unique (trigger_id, payload_sha256)
);

-- Outbound notifications: a workspace's subscriptions to run and task events,
-- each delivery queued in the same transaction as its event and sent by any
-- replica (claimed with SKIP LOCKED), retried with exponential backoff.
create table webhooks (
  id bigint generated always as identity primary key,
  workspace_id bigint not null references workspaces on delete cascade,
  url text not null,
  events text[] not null,
  secret_sealed text not null,
  created_by bigint references users on delete set null,
  created_at timestamptz not null default now()
);

create index webhooks_workspace on webhooks (workspace_id);

create table webhook_deliveries (
  id bigint generated always as identity primary key,
  webhook_id bigint not null references webhooks on delete cascade,
  event text not null,
  payload jsonb not null,
  state text not null default 'pending' check (state in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  -- when it is next due; while one replica sends, its lease
  next_attempt_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  completed_at timestamptz
);

create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where state = 'pending';
create index webhook_deliveries_webhook on webhook_deliveries (webhook_id, id);

create table webhook_attempts (
  delivery_id bigint not null references webhook_deliveries on delete cascade,
  attempt integer not null,
  -- the receiver's HTTP status; null when none came (error says why)
  status_code integer,
  error text,
  duration_ms integer not null,
  attempted_at timestamptz not null default now(),
  primary key (delivery_id, attempt)
);
