import { sql } from 'kysely';
import type { Db } from '../db/connect.ts';

export const taskLogChannel = 'kiln_task_log';

/** Appends a chunk to a task attempt's live log and tells followers (on commit). */
export async function insertLogChunk(
  db: Db,
  taskId: number,
  attempt: number,
  data: string,
): Promise<void> {
  await db.insertInto('task_log_chunks').values({ task_id: taskId, attempt, data }).execute();
  await notifyLogFollowers(db, taskId);
}

/**
 * Tells a task's log followers (on commit) that its log changed: a chunk was
 * added, the task ended or its log was saved, so they need not wait to learn it.
 */
export async function notifyLogFollowers(db: Db, taskId: number): Promise<void> {
  await sql`select pg_notify(${taskLogChannel}, ${String(taskId)})`.execute(db);
}

/** Chunks of a task's live log after `afterSeq`, in order. */
export function listLogChunks(db: Db, taskId: number, afterSeq: number, limit = 1000) {
  return db
    .selectFrom('task_log_chunks')
    .select(['seq', 'attempt', 'data'])
    .where('task_id', '=', taskId)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
}

export async function deleteLogChunks(db: Db, taskId: number): Promise<void> {
  await db.deleteFrom('task_log_chunks').where('task_id', '=', taskId).execute();
}

/** Completed or cancelled tasks whose live log was never saved as an artifact. */
export async function listUnsavedLogs(db: Db, limit: number): Promise<number[]> {
  const rows = await db
    .selectFrom('tasks')
    .select('id')
    .where('state', 'in', ['completed', 'cancelled'])
    .where('log_artifact_id', 'is', null)
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('task_log_chunks as c')
          .select('c.task_id')
          .whereRef('c.task_id', '=', 'tasks.id'),
      ),
    )
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}
