import { sql } from 'kysely';
import type { WorkerStatic } from '../../protocol/workers.schema.ts';
import type { Db } from '../db/connect.ts';
import type { WorkerRow } from '../db/schema.ts';

/** Creates a worker, or takes over the one of the same name (a re-enrolment). */
export function upsertWorker(db: Db, name: string, metadata: WorkerStatic): Promise<WorkerRow> {
  const values = {
    architectures: metadata.architectures,
    cross_architectures: metadata.cross_architectures ?? [],
    executors: metadata.executors,
    cores: metadata.cores,
    memory: metadata.memory,
    disk: metadata.disk,
    tags: metadata.tags ?? [],
    version: metadata.version ?? '',
  };
  return db
    .insertInto('workers')
    .values({ name, ...values })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet({ ...values, enrolled_at: sql<Date>`now()`, last_seen_at: sql<Date>`now()` }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function findWorkersByIds(db: Db, ids: readonly number[]): Promise<WorkerRow[]> {
  return db
    .selectFrom('workers')
    .selectAll()
    .where('id', '=', sql<number>`any(${[...ids]}::bigint[])`)
    .execute();
}

/** Records that the workers were seen now. */
export async function touchWorkers(db: Db, ids: readonly number[]): Promise<void> {
  if (ids.length > 0) {
    await db
      .updateTable('workers')
      .set({ last_seen_at: sql<Date>`now()` })
      .where('id', '=', sql<number>`any(${[...ids]}::bigint[])`)
      .execute();
  }
}

export function findWorkerByName(db: Db, name: string): Promise<WorkerRow | undefined> {
  return db.selectFrom('workers').selectAll().where('name', '=', name).executeTakeFirst();
}

export function listWorkerRows(db: Db): Promise<WorkerRow[]> {
  return db.selectFrom('workers').selectAll().orderBy('name').execute();
}

/** Workers seen within `onlineSeconds` and enabled. */
export function listOnlineWorkers(db: Db, onlineSeconds: number): Promise<WorkerRow[]> {
  return db
    .selectFrom('workers')
    .selectAll()
    .where('enabled', '=', true)
    .where('last_seen_at', '>', sql<Date>`now() - make_interval(secs => ${onlineSeconds})`)
    .execute();
}

export async function recordHeartbeat(
  db: Db,
  workerId: number,
  dynamic: {
    load?: number | undefined;
    free_disk?: number | undefined;
    cross_architectures?: string[] | undefined;
  },
): Promise<void> {
  await db
    .updateTable('workers')
    .set({
      last_seen_at: sql<Date>`now()`,
      ...(dynamic.load === undefined ? {} : { load: dynamic.load }),
      ...(dynamic.free_disk === undefined ? {} : { free_disk: dynamic.free_disk }),
      ...(dynamic.cross_architectures === undefined
        ? {}
        : { cross_architectures: dynamic.cross_architectures }),
    })
    .where('id', '=', workerId)
    .execute();
}

/**
 * Extends the leases of the worker's running tasks: those of `attempts`, when
 * the worker says what it runs, or all of them.
 */
export async function extendLeases(
  db: Db,
  workerId: number,
  leaseSeconds: number,
  attempts?: readonly { readonly task: number; readonly attempt: number }[],
): Promise<void> {
  if (attempts?.length === 0) {
    return;
  }
  let update = db
    .updateTable('tasks')
    .set({ lease_expires_at: sql<Date>`now() + make_interval(secs => ${leaseSeconds})` })
    .where('worker_id', '=', workerId)
    .where('state', '=', 'running');
  if (attempts !== undefined) {
    update = update.where((eb) =>
      eb.or(attempts.map((a) => eb.and([eb('id', '=', a.task), eb('attempt', '=', a.attempt)]))),
    );
  }
  await update.execute();
}

/** The worker's running tasks: id, attempt and whether cancel was asked. */
export function listRunningTasksOf(db: Db, workerId: number) {
  return db
    .selectFrom('tasks')
    .select(['id', 'attempt', 'cancel_requested', 'workspace_id'])
    .where('worker_id', '=', workerId)
    .where('state', '=', 'running')
    .execute();
}

export async function setWorkerEnabled(db: Db, id: number, enabled: boolean): Promise<void> {
  await db.updateTable('workers').set({ enabled }).where('id', '=', id).execute();
}

export async function deleteWorker(db: Db, id: number): Promise<void> {
  await db.deleteFrom('workers').where('id', '=', id).execute();
}

/** Revokes the worker tokens of a worker (before a re-enrolment issues a new one). */
export async function revokeWorkerTokens(db: Db, workerId: number): Promise<void> {
  await db
    .updateTable('tokens')
    .set({ revoked_at: sql<Date>`now()` })
    .where('worker_id', '=', workerId)
    .where('kind', '=', 'worker')
    .where('revoked_at', 'is', null)
    .execute();
}
