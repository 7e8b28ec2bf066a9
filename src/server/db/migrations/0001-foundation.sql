-- kiln's foundation: users, tokens, workspaces, members, files and artifacts.

create table users (
  id bigint generated always as identity primary key,
  username text not null unique,
  password_hash text,
  role text not null check (role in ('guest', 'developer', 'admin')),
  created_at timestamptz not null default now()
);

create table tokens (
  id bigint generated always as identity primary key,
  -- sha256 of the secret, hex: tokens are random, so a fast hash is enough.
  hash text not null unique,
  kind text not null check (kind in ('personal', 'enrolment', 'worker', 'task')),
  user_id bigint references users on delete cascade,
  name text not null default '',
  scopes text[] not null default '{}',
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz
);
create index tokens_user_idx on tokens (user_id);

create table workspaces (
  id bigint generated always as identity primary key,
  name text not null unique,
  public boolean not null default false,
  -- seconds; null keeps artifacts until they are deleted
  default_expiration bigint,
  created_at timestamptz not null default now()
);

create table workspace_members (
  workspace_id bigint not null references workspaces on delete cascade,
  user_id bigint not null references users on delete cascade,
  role text not null check (role in ('viewer', 'uploader', 'writer', 'owner')),
  added_at timestamptz not null default now(),
  primary key (workspace_id, user_id)
);
create index workspace_members_user_idx on workspace_members (user_id);

-- Content in the file store: a row exists exactly when the blob is stored.
create table files (
  sha256 text primary key,
  size bigint not null,
  created_at timestamptz not null default now()
);

create table artifacts (
  id bigint generated always as identity primary key,
  workspace_id bigint not null references workspaces on delete cascade,
  type text not null,
  data jsonb not null default '{}',
  immutable boolean not null default false,
  created_by bigint references users on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  expires_at timestamptz
);
create index artifacts_workspace_type_idx on artifacts (workspace_id, type, id);
create index artifacts_expires_idx on artifacts (expires_at) where expires_at is not null;

create table artifact_files (
  artifact_id bigint not null references artifacts on delete cascade,
  path text not null,
  sha256 text not null,
  size bigint not null,
  -- whether this artifact's content was uploaded (or proven readable to its creator)
  complete boolean not null default false,
  primary key (artifact_id, path)
);
create index artifact_files_sha256_idx on artifact_files (sha256);

create table artifact_relations (
  artifact_id bigint not null references artifacts on delete cascade,
  -- NO ACTION (checked at the end of the statement): an artifact that others
  -- reference cannot be deleted, but one delete may remove both ends.
  target_id bigint not null references artifacts,
  type text not null check (type in ('built-using', 'extends', 'relates-to')),
  primary key (artifact_id, type, target_id)
);
create index artifact_relations_target_idx on artifact_relations (target_id);
