-- APT repositories: suites, the pool, binary and source entries, indices kept
-- as chunks (so that one change rebuilds one chunk), and publications: numbered,
-- immutable manifests of the dists/ tree whose files live in the file store.

create table apt_repositories (
  id bigint generated always as identity primary key,
  workspace_id bigint not null references workspaces on delete cascade,
  name text not null,
  origin text not null default '',
  label text not null default '',
  description text not null default '',
  -- seconds from Date to Valid-Until; null: no Valid-Until
  valid_for integer,
  keep_publications integer not null default 20,
  current_publication_id bigint,
  created_at timestamptz not null default now(),
  unique (workspace_id, name)
);

-- The signer's keys a repository signs with: active ones sign; a retiring key
-- still signs until clients have the new one.
create table apt_repository_keys (
  repository_id bigint not null references apt_repositories on delete cascade,
  key_id bigint not null,
  state text not null check (state in ('active', 'retiring')),
  added_at timestamptz not null default now(),
  primary key (repository_id, key_id)
);

create table apt_suites (
  id bigint generated always as identity primary key,
  repository_id bigint not null references apt_repositories on delete cascade,
  codename text not null,
  suite text not null,
  components text[] not null,
  architectures text[] not null,
  unique (repository_id, codename)
);

-- pool/ files: one content per path in a repository; the artifact holding the
-- content stays as long as the pool uses it.
create table apt_pool (
  repository_id bigint not null references apt_repositories on delete cascade,
  path text not null,
  sha256 text not null,
  size bigint not null,
  artifact_id bigint not null references artifacts,
  primary key (repository_id, path)
);
create index apt_pool_artifact_idx on apt_pool (artifact_id);

-- A binary package in a suite's component; 'all' packages are listed in every
-- architecture's Packages.
create table apt_binaries (
  id bigint generated always as identity primary key,
  suite_id bigint not null references apt_suites on delete cascade,
  component text not null,
  package text not null,
  version text not null,
  architecture text not null,
  source text not null,
  source_version text not null,
  pool_path text not null,
  -- the Packages stanza, made once at ingest: publishing never re-reads a .deb
  stanza text not null,
  added_at timestamptz not null default now(),
  unique (suite_id, component, package, architecture)
);

create table apt_sources (
  id bigint generated always as identity primary key,
  suite_id bigint not null references apt_suites on delete cascade,
  component text not null,
  package text not null,
  version text not null,
  pool_paths text[] not null,
  stanza text not null,
  added_at timestamptz not null default now(),
  unique (suite_id, component, package)
);

-- One index file: Packages of (suite, component, architecture) or Sources of
-- (suite, component). Its entries are grouped in chunks of a few hundred.
create table apt_indices (
  id bigint generated always as identity primary key,
  suite_id bigint not null references apt_suites on delete cascade,
  component text not null,
  kind text not null check (kind in ('packages', 'sources')),
  architecture text not null default '',
  unique (suite_id, component, kind, architecture)
);

create table apt_index_entries (
  index_id bigint not null references apt_indices on delete cascade,
  binary_id bigint references apt_binaries on delete cascade,
  source_id bigint references apt_sources on delete cascade,
  chunk integer not null,
  check ((binary_id is null) <> (source_id is null))
);
create unique index apt_index_entries_binary_idx on apt_index_entries (index_id, binary_id)
  where binary_id is not null;
create unique index apt_index_entries_source_idx on apt_index_entries (index_id, source_id)
  where source_id is not null;
create index apt_index_entries_chunk_idx on apt_index_entries (index_id, chunk);

-- A chunk's text and its gzip member, in the file store; dirty ones are rebuilt
-- at the next publication. An index file is the concatenation of its chunks.
create table apt_index_chunks (
  index_id bigint not null references apt_indices on delete cascade,
  chunk integer not null,
  entries integer not null default 0,
  dirty boolean not null default true,
  text_sha256 text,
  text_size bigint,
  gz_sha256 text,
  gz_size bigint,
  primary key (index_id, chunk)
);

create table apt_publications (
  id bigint generated always as identity primary key,
  repository_id bigint not null references apt_repositories on delete cascade,
  number integer not null,
  created_at timestamptz not null default now(),
  unique (repository_id, number)
);

-- The files of a publication's dists/ tree. `parts` lists the stored pieces a
-- file is the concatenation of (an index from its chunks); null: stored whole.
create table apt_publication_files (
  publication_id bigint not null references apt_publications on delete cascade,
  path text not null,
  sha256 text not null,
  size bigint not null,
  parts text[],
  primary key (publication_id, path)
);
create index apt_publication_files_hash_idx on apt_publication_files (sha256);

alter table apt_repositories add constraint apt_repositories_current_fk
  foreign key (current_publication_id) references apt_publications on delete set null;

-- The garbage collector keeps every stored file a chunk or a publication uses.
create index apt_index_chunks_text_idx on apt_index_chunks (text_sha256);
create index apt_index_chunks_gz_idx on apt_index_chunks (gz_sha256);
