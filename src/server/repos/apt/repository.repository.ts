import type { Db } from '../../db/connect.ts';
import type { Selectable } from 'kysely';
import type { AptRepositoriesTable, AptSuitesTable } from '../../db/schema.ts';

export type RepositoryRow = Selectable<AptRepositoriesTable>;
export type SuiteRow = Selectable<AptSuitesTable>;

export function insertRepository(
  db: Db,
  row: Omit<RepositoryRow, 'id' | 'created_at' | 'current_publication_id'>,
): Promise<RepositoryRow | undefined> {
  return db
    .insertInto('apt_repositories')
    .values(row)
    .onConflict((oc) => oc.columns(['workspace_id', 'name']).doNothing())
    .returningAll()
    .executeTakeFirst();
}

export function findRepository(
  db: Db,
  workspaceId: number,
  name: string,
): Promise<RepositoryRow | undefined> {
  return db
    .selectFrom('apt_repositories')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('name', '=', name)
    .executeTakeFirst();
}

export function findRepositoryById(db: Db, id: number): Promise<RepositoryRow | undefined> {
  return db.selectFrom('apt_repositories').selectAll().where('id', '=', id).executeTakeFirst();
}

export function listRepositories(db: Db, workspaceId: number): Promise<RepositoryRow[]> {
  return db
    .selectFrom('apt_repositories')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .orderBy('name')
    .execute();
}

export async function deleteRepository(db: Db, id: number): Promise<void> {
  await db
    .updateTable('apt_repositories')
    .set({ current_publication_id: null })
    .where('id', '=', id)
    .execute();
  await db.deleteFrom('apt_repositories').where('id', '=', id).execute();
}

export async function insertSuite(db: Db, suite: Omit<SuiteRow, 'id'>): Promise<SuiteRow> {
  return db.insertInto('apt_suites').values(suite).returningAll().executeTakeFirstOrThrow();
}

export function listSuites(db: Db, repositoryId: number): Promise<SuiteRow[]> {
  return db
    .selectFrom('apt_suites')
    .selectAll()
    .where('repository_id', '=', repositoryId)
    .orderBy('codename')
    .execute();
}

export function findSuite(
  db: Db,
  repositoryId: number,
  codename: string,
): Promise<SuiteRow | undefined> {
  return db
    .selectFrom('apt_suites')
    .selectAll()
    .where('repository_id', '=', repositoryId)
    .where('codename', '=', codename)
    .executeTakeFirst();
}

export async function setSuiteArchitectures(
  db: Db,
  suiteId: number,
  architectures: string[],
): Promise<void> {
  await db.updateTable('apt_suites').set({ architectures }).where('id', '=', suiteId).execute();
}

export async function addRepositoryKey(
  db: Db,
  repositoryId: number,
  keyId: number,
  state: 'active' | 'retiring',
): Promise<void> {
  await db
    .insertInto('apt_repository_keys')
    .values({ repository_id: repositoryId, key_id: keyId, state })
    .onConflict((oc) => oc.columns(['repository_id', 'key_id']).doUpdateSet({ state }))
    .execute();
}

export function listRepositoryKeys(db: Db, repositoryId: number) {
  return db
    .selectFrom('apt_repository_keys')
    .selectAll()
    .where('repository_id', '=', repositoryId)
    .orderBy('added_at')
    .execute();
}

export async function removeRepositoryKey(
  db: Db,
  repositoryId: number,
  keyId: number,
): Promise<void> {
  await db
    .deleteFrom('apt_repository_keys')
    .where('repository_id', '=', repositoryId)
    .where('key_id', '=', keyId)
    .execute();
}
