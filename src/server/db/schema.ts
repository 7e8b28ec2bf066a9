import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { TriggerTables } from './trigger-tables.ts';

/**
 * The tables of kiln's database, as Kysely sees them. The migrations in
 * `migrations/` are the source of truth; row types are derived from this map.
 */
export interface Database extends TriggerTables {
  users: UsersTable;
  tokens: TokensTable;
  workspaces: WorkspacesTable;
  workspace_members: WorkspaceMembersTable;
  files: FilesTable;
  artifacts: ArtifactsTable;
  artifact_files: ArtifactFilesTable;
  artifact_relations: ArtifactRelationsTable;
  workers: WorkersTable;
  tasks: TasksTable;
  task_dependencies: TaskDependenciesTable;
  task_artifacts: TaskArtifactsTable;
  task_attempts: TaskAttemptsTable;
  task_log_chunks: TaskLogChunksTable;
  apt_repositories: AptRepositoriesTable;
  apt_repository_keys: AptRepositoryKeysTable;
  apt_suites: AptSuitesTable;
  apt_pool: AptPoolTable;
  apt_binaries: AptBinariesTable;
  apt_sources: AptSourcesTable;
  apt_indices: AptIndicesTable;
  apt_index_chunks: AptIndexChunksTable;
  apt_publications: AptPublicationsTable;
  apt_publication_files: AptPublicationFilesTable;
  signing_keys: SigningKeysTable;
  workflow_templates: WorkflowTemplatesTable;
  workflow_runs: WorkflowRunsTable;
  workflow_events: WorkflowEventsTable;
  workflow_run_wakeups: WorkflowRunWakeupsTable;
  kiln_migrations: MigrationsTable;
  web_sessions: WebSessionsTable;
}

type CreatedAt = ColumnType<Date, Date | undefined, never>;

export interface UsersTable {
  id: Generated<number>;
  username: string;
  password_hash: string | null;
  role: 'guest' | 'developer' | 'admin';
  created_at: CreatedAt;
}

export interface TokensTable {
  id: Generated<number>;
  hash: string;
  kind: 'personal' | 'enrolment' | 'worker' | 'task';
  user_id: number | null;
  name: string;
  scopes: string[];
  created_at: CreatedAt;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  worker_id: ColumnType<number | null, number | null | undefined, never>;
  task_id: ColumnType<number | null, number | null | undefined, never>;
  task_attempt: ColumnType<number | null, number | null | undefined, never>;
}

export interface WorkspacesTable {
  id: Generated<number>;
  name: string;
  public: boolean;
  default_expiration: number | null;
  max_running_tasks: ColumnType<number | null, number | null | undefined, number | null>;
  created_at: CreatedAt;
}

export interface WorkspaceMembersTable {
  workspace_id: number;
  user_id: number;
  role: 'viewer' | 'uploader' | 'writer' | 'owner';
  added_at: CreatedAt;
}

export interface FilesTable {
  sha256: string;
  size: number;
  created_at: CreatedAt;
}

export interface ArtifactsTable {
  id: Generated<number>;
  workspace_id: number;
  type: string;
  data: ColumnType<Record<string, unknown>, string, string>;
  immutable: Generated<boolean>;
  created_by: number | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | undefined, Date>;
  expires_at: Date | null;
  created_by_task: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface ArtifactFilesTable {
  artifact_id: number;
  path: string;
  sha256: string;
  size: number;
  complete: Generated<boolean>;
}

export interface ArtifactRelationsTable {
  artifact_id: number;
  target_id: number;
  type: 'built-using' | 'extends' | 'relates-to';
}

export interface WorkersTable {
  id: Generated<number>;
  name: string;
  enabled: Generated<boolean>;
  architectures: string[];
  cross_architectures: string[];
  executors: string[];
  cores: number;
  memory: number;
  disk: number;
  tags: string[];
  version: string;
  load: number | null;
  free_disk: number | null;
  enrolled_at: ColumnType<Date, Date | undefined, Date>;
  last_seen_at: ColumnType<Date, Date | undefined, Date>;
}

export type TaskStateColumn = 'blocked' | 'pending' | 'running' | 'completed' | 'cancelled';
export type TaskResultColumn = 'success' | 'failure' | 'error';

export interface TasksTable {
  id: Generated<number>;
  workspace_id: number;
  type: string;
  input: ColumnType<Record<string, unknown>, string, string>;
  runs_on: 'worker' | 'server';
  architecture: string | null;
  host_architecture: string | null;
  executor: string | null;
  min_memory: number;
  min_disk: number;
  tags: string[];
  base_score: number;
  priority: number;
  queue_key: number;
  state: TaskStateColumn;
  result: TaskResultColumn | null;
  reason: string | null;
  message: string | null;
  output: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  created_by: number | null;
  created_at: CreatedAt;
  started_at: Date | null;
  completed_at: Date | null;
  time_limit: number;
  attempt: Generated<number>;
  lost_leases: Generated<number>;
  max_lost_leases: number;
  worker_id: number | null;
  lease_expires_at: Date | null;
  cancel_requested: Generated<boolean>;
  /** Some task depends on this one (set when such a task is submitted). */
  has_dependents: Generated<boolean>;
  log_artifact_id: number | null;
  bindings: ColumnType<TaskBinding[] | null, string | null, string | null>;
  run_id: ColumnType<number | null, number | null | undefined, number | null>;
  run_step: ColumnType<string | null, string | null | undefined, string | null>;
  run_retries: Generated<number>;
}

/** An input field filled from a dependency's output when that dependency succeeds. */
export interface TaskBinding {
  readonly field: string;
  readonly task: number;
  readonly output: string;
}

export interface TaskDependenciesTable {
  task_id: number;
  depends_on: number;
}

export interface TaskArtifactsTable {
  task_id: number;
  artifact_id: number;
  role: 'input' | 'output';
}

export interface TaskAttemptsTable {
  task_id: number;
  attempt: number;
  worker_id: number | null;
  worker_name: string;
  started_at: CreatedAt;
  ended_at: Date | null;
  outcome: string | null;
}

export interface TaskLogChunksTable {
  task_id: number;
  attempt: number;
  seq: Generated<number>;
  data: string;
  created_at: CreatedAt;
}

export interface AptRepositoriesTable {
  id: Generated<number>;
  workspace_id: number;
  name: string;
  origin: string;
  label: string;
  description: string;
  valid_for: number | null;
  keep_publications: Generated<number>;
  current_publication_id: number | null;
  created_at: CreatedAt;
}

export interface AptRepositoryKeysTable {
  repository_id: number;
  key_id: number;
  state: 'active' | 'retiring';
  added_at: CreatedAt;
}

export interface AptSuitesTable {
  id: Generated<number>;
  repository_id: number;
  codename: string;
  suite: string;
  components: string[];
  architectures: string[];
}

export interface AptPoolTable {
  repository_id: number;
  path: string;
  sha256: string;
  size: number;
  artifact_id: number;
}

export interface AptBinariesTable {
  id: Generated<number>;
  suite_id: number;
  component: string;
  package: string;
  version: string;
  architecture: string;
  source: string;
  source_version: string;
  pool_path: string;
  stanza: string;
  /** The chunk of its suite and component's indices it is listed in. */
  chunk: number;
  added_at: CreatedAt;
}

export interface AptSourcesTable {
  id: Generated<number>;
  suite_id: number;
  component: string;
  package: string;
  version: string;
  pool_paths: string[];
  stanza: string;
  /** The chunk of its suite and component's Sources it is listed in. */
  chunk: number;
  added_at: CreatedAt;
}

export interface AptIndicesTable {
  id: Generated<number>;
  suite_id: number;
  component: string;
  kind: 'packages' | 'sources';
  architecture: string;
}

export interface AptIndexChunksTable {
  index_id: number;
  chunk: number;
  dirty: Generated<boolean>;
  text_sha256: string | null;
  text_size: number | null;
  gz_sha256: string | null;
  gz_size: number | null;
}

export interface AptPublicationsTable {
  id: Generated<number>;
  repository_id: number;
  number: number;
  created_at: CreatedAt;
}

export interface AptPublicationFilesTable {
  publication_id: number;
  path: string;
  sha256: string;
  /** Null for files of publications made before SHA512 was listed. */
  sha512: string | null;
  size: number;
  parts: string[] | null;
}

export interface SigningKeysTable {
  id: Generated<number>;
  fingerprint: string;
  algorithm: string;
  user_id: string;
  public_key: string;
  /** Passphrase-protected OpenPGP secret key; null once retired. */
  private_key: string | null;
  created_at: ColumnType<Date, Date, never>;
  retired_at: Date | null;
}

export type RunStatusColumn = 'running' | 'aborted' | 'completed';
export type RunResultColumn = 'success' | 'failure' | 'error' | 'neutral';

export interface WorkflowTemplatesTable {
  id: Generated<number>;
  workspace_id: number;
  name: string;
  workflow: string;
  parameters: ColumnType<Record<string, unknown>, string, string>;
  max_retries: number;
  created_by: number | null;
  created_at: CreatedAt;
}

export interface WorkflowRunsTable {
  id: Generated<number>;
  workspace_id: number;
  template_id: number | null;
  template_name: string;
  workflow: string;
  parameters: ColumnType<Record<string, unknown>, string, string>;
  trigger: ColumnType<Record<string, unknown>, string, string>;
  status: RunStatusColumn;
  result: RunResultColumn | null;
  message: string | null;
  max_retries: number;
  supersede_key: string | null;
  superseded_by: number | null;
  parent_run_id: number | null;
  artifact_id: number | null;
  created_by: number | null;
  created_at: CreatedAt;
  completed_at: Date | null;
  expires_at: Date | null;
}

export interface WorkflowEventsTable {
  id: Generated<number>;
  run_id: number;
  kind: 'run-started' | 'run-ended' | 'task-ended';
  task_id: number | null;
  data: ColumnType<Record<string, unknown>, string, never>;
  created_at: CreatedAt;
}

export interface WorkflowRunWakeupsTable {
  id: Generated<number>;
  run_id: number;
}

export interface WebSessionsTable {
  id_hash: string;
  token_id: number;
  csrf: string;
  created_at: CreatedAt;
  expires_at: Date;
}

export interface MigrationsTable {
  version: number;
  name: string;
  applied_at: CreatedAt;
}

export type UserRow = Selectable<UsersTable>;
export type TokenRow = Selectable<TokensTable>;
export type NewToken = Insertable<TokensTable>;
export type WorkspaceRow = Selectable<WorkspacesTable>;
export type ArtifactRow = Selectable<ArtifactsTable>;
export type ArtifactFileRow = Selectable<ArtifactFilesTable>;
export type WorkerRow = Selectable<WorkersTable>;
export type TaskRow = Selectable<TasksTable>;
export type WorkflowTemplateRow = Selectable<WorkflowTemplatesTable>;
export type WorkflowRunRow = Selectable<WorkflowRunsTable>;
export type WorkflowEventRow = Selectable<WorkflowEventsTable>;
export type SigningKeyRow = Selectable<SigningKeysTable>;
