import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/**
 * The tables of kiln's database, as Kysely sees them. The migrations in
 * `migrations/` are the source of truth; row types are derived from this map.
 */
export interface Database {
  users: UsersTable;
  tokens: TokensTable;
  workspaces: WorkspacesTable;
  workspace_members: WorkspaceMembersTable;
  files: FilesTable;
  artifacts: ArtifactsTable;
  artifact_files: ArtifactFilesTable;
  artifact_relations: ArtifactRelationsTable;
  kiln_migrations: MigrationsTable;
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
}

export interface WorkspacesTable {
  id: Generated<number>;
  name: string;
  public: boolean;
  default_expiration: number | null;
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
