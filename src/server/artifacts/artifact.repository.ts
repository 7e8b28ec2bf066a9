import { sql } from 'kysely';
import type { Actor } from '../auth/actor.ts';
import type { Db } from '../db/connect.ts';
import { pgArray, unnestRows } from '../db/unnest.ts';
import type { ArtifactFileRow, ArtifactRow, ArtifactRelationsTable } from '../db/schema.ts';
import { visibleWorkspaces } from '../workspaces/access.ts';

/** Rows per bulk statement (see unnestRows). */
const bulkSlice = 20_000;

export type RelationType = ArtifactRelationsTable['type'];

export function insertArtifact(
  db: Db,
  artifact: {
    workspace_id: number;
    type: string;
    data: Record<string, unknown>;
    created_by: number | null;
    created_by_task?: number | null;
    expires_at: Date | null;
  },
): Promise<ArtifactRow> {
  return db
    .insertInto('artifacts')
    .values({ ...artifact, data: JSON.stringify(artifact.data) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** An artifact row with the names of its workspace and creator. */
export type ArtifactWithNames = ArtifactRow & {
  readonly workspace_name: string;
  readonly creator: string | null;
};

export function findArtifact(db: Db, id: number): Promise<ArtifactWithNames | undefined> {
  return db
    .selectFrom('artifacts')
    .innerJoin('workspaces as w', 'w.id', 'artifacts.workspace_id')
    .leftJoin('users as u', 'u.id', 'artifacts.created_by')
    .selectAll('artifacts')
    .select(['w.name as workspace_name', 'u.username as creator'])
    .where('artifacts.id', '=', id)
    .executeTakeFirst();
}

/** Of `ids`, the artifacts the actor may see (for a task: also its inputs and outputs). */
export async function findVisibleArtifactIds(
  db: Db,
  actor: Actor,
  ids: readonly number[],
): Promise<Set<number>> {
  if (ids.length === 0) {
    return new Set();
  }
  const rows = await db
    .selectFrom('artifacts as a')
    .innerJoin('workspaces', 'workspaces.id', 'a.workspace_id')
    .select('a.id')
    .where('a.id', 'in', [...ids])
    .where((eb) =>
      actor.kind === 'task'
        ? eb.or([
            visibleWorkspaces(actor)(eb),
            eb.exists(
              eb
                .selectFrom('task_artifacts as ta')
                .select('ta.artifact_id')
                .whereRef('ta.artifact_id', '=', 'a.id')
                .where('ta.task_id', '=', actor.taskId),
            ),
          ])
        : visibleWorkspaces(actor)(eb),
    )
    .execute();
  return new Set(rows.map((r) => r.id));
}

/** Whether the artifact is one of the task's inputs or outputs. */
export async function isTaskArtifact(db: Db, taskId: number, artifactId: number): Promise<boolean> {
  const row = await db
    .selectFrom('task_artifacts')
    .select('artifact_id')
    .where('task_id', '=', taskId)
    .where('artifact_id', '=', artifactId)
    .executeTakeFirst();
  return row !== undefined;
}

export async function listTaskArtifactIds(
  db: Db,
  taskId: number,
  role: 'input' | 'output',
): Promise<number[]> {
  const rows = await db
    .selectFrom('task_artifacts')
    .select('artifact_id')
    .where('task_id', '=', taskId)
    .where('role', '=', role)
    .orderBy('artifact_id')
    .execute();
  return rows.map((r) => r.artifact_id);
}

export async function insertTaskArtifacts(
  db: Db,
  taskId: number,
  role: 'input' | 'output',
  artifactIds: readonly number[],
): Promise<void> {
  if (artifactIds.length > 0) {
    await db
      .insertInto('task_artifacts')
      .values(artifactIds.map((artifact_id) => ({ task_id: taskId, artifact_id, role })))
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}

/** Finds an artifact and locks its row until the transaction ends. */
export function lockArtifact(db: Db, id: number): Promise<ArtifactRow | undefined> {
  return db.selectFrom('artifacts').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function listArtifactsInWorkspace(
  db: Db,
  workspaceId: number,
  filter: { type?: string | undefined; limit: number; offset: number },
): Promise<{ rows: ArtifactWithNames[]; total: number }> {
  let query = db
    .selectFrom('artifacts')
    .innerJoin('workspaces as w', 'w.id', 'artifacts.workspace_id')
    .where('artifacts.workspace_id', '=', workspaceId);
  if (filter.type !== undefined) {
    query = query.where('artifacts.type', '=', filter.type);
  }
  const rows = await query
    .leftJoin('users as u', 'u.id', 'artifacts.created_by')
    .selectAll('artifacts')
    .select(['w.name as workspace_name', 'u.username as creator'])
    .orderBy('artifacts.id', 'desc')
    .limit(filter.limit)
    .offset(filter.offset)
    .execute();
  const count = await query
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { rows, total: count.n };
}

export function updateArtifact(
  db: Db,
  id: number,
  changes: { data?: Record<string, unknown>; expires_at?: Date | null; immutable?: boolean },
): Promise<ArtifactRow> {
  return db
    .updateTable('artifacts')
    .set({
      ...(changes.data === undefined ? {} : { data: JSON.stringify(changes.data) }),
      ...(changes.expires_at === undefined ? {} : { expires_at: changes.expires_at }),
      ...(changes.immutable === undefined ? {} : { immutable: changes.immutable }),
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Marks an artifact as changed now (its files or relations changed). */
export async function touchArtifact(db: Db, id: number): Promise<void> {
  await db
    .updateTable('artifacts')
    .set({ updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .execute();
}

export async function deleteArtifact(db: Db, id: number): Promise<void> {
  await db.deleteFrom('artifacts').where('id', '=', id).execute();
}

/** An artifact's files in the byte order of their paths (whatever the database's collation). */
export function listArtifactFiles(db: Db, id: number): Promise<ArtifactFileRow[]> {
  return db
    .selectFrom('artifact_files')
    .selectAll()
    .where('artifact_id', '=', id)
    .orderBy(sql`path collate "C"`)
    .execute();
}

/** The files of several artifacts, each artifact's in path order, with one query. */
export async function listFilesOfArtifacts(
  db: Db,
  ids: readonly number[],
): Promise<Map<number, ArtifactFileRow[]>> {
  const rows =
    ids.length === 0
      ? []
      : await db
          .selectFrom('artifact_files')
          .selectAll()
          .where('artifact_id', '=', sql<number>`any(${[...ids]}::bigint[])`)
          .orderBy('artifact_id')
          .orderBy(sql`path collate "C"`)
          .execute();
  const files = new Map<number, ArtifactFileRow[]>(ids.map((id) => [id, []]));
  for (const row of rows) {
    files.get(row.artifact_id)?.push(row);
  }
  return files;
}

export function findArtifactFile(
  db: Db,
  id: number,
  path: string,
): Promise<ArtifactFileRow | undefined> {
  return db
    .selectFrom('artifact_files')
    .selectAll()
    .where('artifact_id', '=', id)
    .where('path', '=', path)
    .executeTakeFirst();
}

export async function insertArtifactFiles(
  db: Db,
  files: readonly ArtifactFileRow[],
): Promise<void> {
  for (let i = 0; i < files.length; i += bulkSlice) {
    await db
      .insertInto('artifact_files')
      .columns(['artifact_id', 'path', 'sha256', 'size', 'complete'])
      .expression(
        unnestRows(files.slice(i, i + bulkSlice), [
          ['artifact_id', 'bigint'],
          ['path', 'text'],
          ['sha256', 'text'],
          ['size', 'bigint'],
          ['complete', 'boolean'],
        ]),
      )
      .execute();
  }
}

export async function deleteArtifactFile(db: Db, id: number, path: string): Promise<boolean> {
  const result = await db
    .deleteFrom('artifact_files')
    .where('artifact_id', '=', id)
    .where('path', '=', path)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** Marks every file of the artifact with this content complete. */
export async function markContentComplete(db: Db, id: number, sha256: string): Promise<void> {
  await db
    .updateTable('artifact_files')
    .set({ complete: true })
    .where('artifact_id', '=', id)
    .where('sha256', '=', sha256)
    .execute();
}

/**
 * Of `sha256s`, those stored and already complete in some artifact the actor may
 * read. Only those may be claimed without an upload: knowing a digest must not
 * give access to another workspace's content. Locks their `files` rows (shared)
 * so the garbage collector cannot remove them before this transaction ends.
 */
export async function lockContentReadableBy(
  db: Db,
  actor: Actor,
  sha256s: readonly string[],
): Promise<Map<string, number>> {
  if (sha256s.length === 0) {
    return new Map();
  }
  const stored = await db
    .selectFrom('files')
    .select(['sha256', 'size'])
    .where('sha256', '=', sql<string>`any(${pgArray(sha256s)}::text[])`)
    .forShare()
    .execute();
  if (stored.length === 0) {
    return new Map();
  }
  const readable = await db
    .selectFrom('artifact_files as af')
    .innerJoin('artifacts as a', 'a.id', 'af.artifact_id')
    .innerJoin('workspaces', 'workspaces.id', 'a.workspace_id')
    .select('af.sha256')
    .distinct()
    .where('af.sha256', '=', sql<string>`any(${pgArray(stored.map((s) => s.sha256))}::text[])`)
    .where('af.complete', '=', true)
    .where(visibleWorkspaces(actor))
    .execute();
  const sizes = new Map(stored.map((s) => [s.sha256, s.size]));
  return new Map(readable.map((r) => [r.sha256, sizes.get(r.sha256) ?? 0]));
}

/** Locks a stored file's row (shared) until the transaction ends; false if there is none. */
export async function lockFileRow(db: Db, sha256: string): Promise<boolean> {
  const row = await db
    .selectFrom('files')
    .select('sha256')
    .where('sha256', '=', sha256)
    .forShare()
    .executeTakeFirst();
  return row !== undefined;
}

/** Locks (shared) the rows of stored contents; returns those that exist. */
export async function lockFileRows(db: Db, sha256s: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < sha256s.length; i += 1000) {
    const rows = await db
      .selectFrom('files')
      .select('sha256')
      .where('sha256', 'in', sha256s.slice(i, i + 1000))
      .forShare()
      .execute();
    for (const row of rows) {
      found.add(row.sha256);
    }
  }
  return found;
}

/** Records stored content; returns whether this call added it (it was absent). */
export async function insertFileRow(db: Db, sha256: string, size: number): Promise<boolean> {
  const row = await db
    .insertInto('files')
    .values({ sha256, size })
    .onConflict((oc) => oc.column('sha256').doNothing())
    .returning('sha256')
    .executeTakeFirst();
  return row !== undefined;
}

/** Records stored contents; returns those this call added (they were absent). */
export async function insertFileRows(
  db: Db,
  rows: readonly { sha256: string; size: number }[],
): Promise<Set<string>> {
  const added = new Set<string>();
  for (let i = 0; i < rows.length; i += bulkSlice) {
    const inserted = await db
      .insertInto('files')
      .columns(['sha256', 'size'])
      .expression(
        unnestRows(rows.slice(i, i + bulkSlice), [
          ['sha256', 'text'],
          ['size', 'bigint'],
        ]),
      )
      .onConflict((oc) => oc.column('sha256').doNothing())
      .returning('sha256')
      .execute();
    for (const row of inserted) {
      added.add(row.sha256);
    }
  }
  return added;
}

/** Marks every file of the artifact with one of these contents complete. */
export async function markContentsComplete(
  db: Db,
  id: number,
  sha256s: readonly string[],
): Promise<void> {
  for (let i = 0; i < sha256s.length; i += bulkSlice) {
    await db
      .updateTable('artifact_files')
      .set({ complete: true })
      .where('artifact_id', '=', id)
      .where('sha256', '=', sql<string>`any(${pgArray(sha256s.slice(i, i + bulkSlice))}::text[])`)
      .execute();
  }
}

/** Relations from an artifact to targets the actor may see (a task: also its inputs and outputs). */
export function listVisibleRelations(db: Db, id: number, actor: Actor) {
  return db
    .selectFrom('artifact_relations as r')
    .innerJoin('artifacts as t', 't.id', 'r.target_id')
    .innerJoin('workspaces', 'workspaces.id', 't.workspace_id')
    .select(['r.type', 'r.target_id'])
    .where('r.artifact_id', '=', id)
    .where((eb) =>
      actor.kind === 'task'
        ? eb.or([
            visibleWorkspaces(actor)(eb),
            eb.exists(
              eb
                .selectFrom('task_artifacts as ta')
                .select('ta.artifact_id')
                .whereRef('ta.artifact_id', '=', 't.id')
                .where('ta.task_id', '=', actor.taskId),
            ),
          ])
        : visibleWorkspaces(actor)(eb),
    )
    .orderBy('r.type')
    .orderBy('r.target_id')
    .execute();
}

export async function insertRelations(
  db: Db,
  relations: readonly { artifact_id: number; target_id: number; type: RelationType }[],
): Promise<void> {
  if (relations.length > 0) {
    await db
      .insertInto('artifact_relations')
      .values([...relations])
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}

export async function deleteRelation(
  db: Db,
  relation: { artifact_id: number; target_id: number; type: RelationType },
): Promise<boolean> {
  const result = await db
    .deleteFrom('artifact_relations')
    .where('artifact_id', '=', relation.artifact_id)
    .where('target_id', '=', relation.target_id)
    .where('type', '=', relation.type)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}
