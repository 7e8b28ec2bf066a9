import type { Db } from '../db/connect.ts';
import type { WorkspaceRow } from '../db/schema.ts';
import type { WorkspaceRole } from '../../protocol/workspaces.schema.ts';

/** A workspace with the role a given user holds in it (null: not a member). */
export interface WorkspaceWithRole {
  readonly workspace: WorkspaceRow;
  readonly role: WorkspaceRole | null;
}

export async function findWorkspaceWithRole(
  db: Db,
  name: string,
  userId: number | undefined,
): Promise<WorkspaceWithRole | undefined> {
  const row = await db
    .selectFrom('workspaces')
    .leftJoin('workspace_members as m', (join) =>
      join.onRef('m.workspace_id', '=', 'workspaces.id').on('m.user_id', '=', userId ?? -1),
    )
    .selectAll('workspaces')
    .select('m.role')
    .where('workspaces.name', '=', name)
    .executeTakeFirst();
  if (row === undefined) {
    return undefined;
  }
  const { role, ...workspace } = row;
  return { workspace, role };
}

export async function findWorkspaceByIdWithRole(
  db: Db,
  id: number,
  userId: number | undefined,
): Promise<WorkspaceWithRole | undefined> {
  const row = await db
    .selectFrom('workspaces')
    .leftJoin('workspace_members as m', (join) =>
      join.onRef('m.workspace_id', '=', 'workspaces.id').on('m.user_id', '=', userId ?? -1),
    )
    .selectAll('workspaces')
    .select('m.role')
    .where('workspaces.id', '=', id)
    .executeTakeFirst();
  if (row === undefined) {
    return undefined;
  }
  const { role, ...workspace } = row;
  return { workspace, role };
}

/** Workspaces a user may see: public ones, their own, or all for an admin. */
export async function listVisibleWorkspaces(
  db: Db,
  userId: number | undefined,
  all: boolean,
): Promise<WorkspaceWithRole[]> {
  let query = db
    .selectFrom('workspaces')
    .leftJoin('workspace_members as m', (join) =>
      join.onRef('m.workspace_id', '=', 'workspaces.id').on('m.user_id', '=', userId ?? -1),
    )
    .selectAll('workspaces')
    .select('m.role')
    .orderBy('workspaces.name');
  if (!all) {
    query = query.where((eb) =>
      eb.or([eb('workspaces.public', '=', true), eb('m.role', 'is not', null)]),
    );
  }
  return (await query.execute()).map(({ role, ...workspace }) => ({ workspace, role }));
}

export function insertWorkspace(
  db: Db,
  workspace: { name: string; public: boolean; default_expiration: number | null },
): Promise<WorkspaceRow | undefined> {
  return db
    .insertInto('workspaces')
    .values(workspace)
    .onConflict((oc) => oc.column('name').doNothing())
    .returningAll()
    .executeTakeFirst();
}

export function updateWorkspace(
  db: Db,
  id: number,
  changes: {
    public?: boolean;
    default_expiration?: number | null;
    max_running_tasks?: number | null;
  },
): Promise<WorkspaceRow> {
  return db
    .updateTable('workspaces')
    .set(changes)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Deletes a workspace with its artifacts; fails with a foreign-key violation if
 * an artifact of another workspace refers to one of them. Run it in a
 * transaction: it takes three statements.
 */
export async function deleteWorkspace(db: Db, id: number): Promise<void> {
  // The cascade deletes the artifacts row by row, and the NO ACTION check of
  // `artifact_relations.target_id` runs after each row, before the cascade has
  // removed the relations of the rows still to come: so relations between the
  // workspace's own artifacts must go first.
  await db
    .deleteFrom('artifact_relations')
    .where('artifact_id', 'in', (eb) =>
      eb.selectFrom('artifacts').select('id').where('workspace_id', '=', id),
    )
    .execute();
  // Its repositories before its artifacts: their pools use the artifacts.
  await db.deleteFrom('apt_repositories').where('workspace_id', '=', id).execute();
  await db.deleteFrom('workspaces').where('id', '=', id).execute();
}

export function listMembers(db: Db, workspaceId: number) {
  return db
    .selectFrom('workspace_members as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['u.username', 'm.role', 'm.added_at'])
    .where('m.workspace_id', '=', workspaceId)
    .orderBy('u.username')
    .execute();
}

export async function upsertMember(
  db: Db,
  workspaceId: number,
  userId: number,
  role: WorkspaceRole,
): Promise<void> {
  await db
    .insertInto('workspace_members')
    .values({ workspace_id: workspaceId, user_id: userId, role })
    .onConflict((oc) => oc.columns(['workspace_id', 'user_id']).doUpdateSet({ role }))
    .execute();
}

export async function deleteMember(db: Db, workspaceId: number, userId: number): Promise<boolean> {
  const result = await db
    .deleteFrom('workspace_members')
    .where('workspace_id', '=', workspaceId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

export async function countOwners(db: Db, workspaceId: number): Promise<number> {
  const row = await db
    .selectFrom('workspace_members')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('workspace_id', '=', workspaceId)
    .where('role', '=', 'owner')
    .executeTakeFirstOrThrow();
  return row.n;
}

/** Locks a workspace's row so member changes on it are serialised. */
export async function lockWorkspace(db: Db, id: number): Promise<void> {
  await db.selectFrom('workspaces').select('id').where('id', '=', id).forUpdate().execute();
}
