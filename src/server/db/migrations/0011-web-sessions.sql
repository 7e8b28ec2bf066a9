-- Web UI sessions. The cookie carries a random id; only its sha256 is stored,
-- as for tokens. A session stands on a personal token made at login: revoking
-- that token (or deleting the user) ends the session.
create table web_sessions (
  id_hash text primary key,
  token_id bigint not null references tokens on delete cascade,
  -- The value every form posts back (CSRF protection, synchroniser token).
  csrf text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
create index web_sessions_token_idx on web_sessions (token_id);
create index web_sessions_expires_idx on web_sessions (expires_at);
