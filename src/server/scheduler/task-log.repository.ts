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

/**
 * Completed or cancelled tasks whose live log was never saved as an artifact.
 * Only tasks with live chunks can have one, and those are few (a task's
 * chunks go once its log is saved), so the search walks the distinct task ids
 * of `task_log_chunks` on its primary key (a loose index scan) rather than
 * every finished task: it runs every second, whatever the size of `tasks`.
 */
export async function listUnsavedLogs(db: Db, limit: number): Promise<number[]> {
  const result = await sql<{ id: number }>`
    with recursive logged(task_id) as (
      (select task_id from task_log_chunks order by task_id limit 1)
      union all
      select (select c.task_id from task_log_chunks c where c.task_id > logged.task_id
        order by c.task_id limit 1)
      from logged where logged.task_id is not null
    )
    select t.id from logged join tasks t on t.id = logged.task_id
    where t.state in ('completed', 'cancelled') and t.log_artifact_id is null
    order by t.id limit ${limit}`.execute(db);
  return result.rows.map((r) => r.id);
}
