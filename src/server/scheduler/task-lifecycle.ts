import { sql } from 'kysely';
import type { Db } from '../db/connect.ts';
import type { TaskResultColumn, TaskRow } from '../db/schema.ts';
import { enqueueTaskEndings } from '../notifications/webhook.repository.ts';
import { fillBindings } from './task-bindings.ts';
import { notifyLogFollowers } from './task-log.repository.ts';
import {
  endAttempt,
  listBlockedDescendants,
  lockBlockedDependents,
  listReady,
  recordEnding,
  revokeTaskTokens,
  updateTasks,
} from './task.repository.ts';

/** How a task ends: completed with a result, or cancelled. */
export type Ending =
  | {
      readonly state: 'completed';
      readonly result: TaskResultColumn;
      readonly reason?: string | undefined;
      readonly message?: string | undefined;
      readonly output?: Record<string, unknown> | undefined;
    }
  | { readonly state: 'cancelled'; readonly reason: string; readonly message?: string | undefined };

/**
 * Ends a task locked by the caller's transaction: records the ending, closes
 * its attempt, revokes its task tokens and settles the tasks that wait for it
 * (success unblocks them; anything else ends them as `blocked-failed`, or
 * cancels them). Returns how many tasks became pending.
 */
export async function endTask(db: Db, task: TaskRow, ending: Ending): Promise<number> {
  await recordEnding(
    db,
    task,
    {
      state: ending.state,
      result: ending.state === 'completed' ? ending.result : null,
      reason: ending.reason ?? null,
      message: ending.message ?? null,
      output: ending.state === 'completed' ? (ending.output ?? null) : null,
    },
    ending.state === 'completed' ? ending.result : 'cancelled',
  );
  // Followers of its log learn at once that it is over.
  await notifyLogFollowers(db, task.id);
  if (ending.state === 'completed' && ending.result === 'success') {
    await enqueueTaskEndings(db, [task.id]);
    return releaseDependents(db, task.id);
  }
  const descendants = await listBlockedDescendants(db, task.id);
  await updateTasks(
    db,
    descendants,
    ending.state === 'cancelled'
      ? {
          state: 'cancelled',
          reason: 'dependency-cancelled',
          message: `task ${task.id} was cancelled`,
          completed_at: sql<Date>`now()`,
        }
      : {
          state: 'completed',
          result: 'failure',
          reason: 'blocked-failed',
          message: `task ${task.id} ${ending.result === 'error' ? 'errored' : 'failed'}`,
          completed_at: sql<Date>`now()`,
        },
  );
  // Webhooks hear of it with its descendants, in this transaction.
  await enqueueTaskEndings(db, [task.id, ...descendants]);
  return 0;
}

/**
 * Moves the tasks that waited for `taskId` and now have every dependency done
 * to pending, their bindings filled; returns how many. One whose binding cannot
 * be filled ends as an error.
 */
async function releaseDependents(db: Db, taskId: number): Promise<number> {
  let released = 0;
  for (const dependent of await listReady(db, await lockBlockedDependents(db, taskId))) {
    const problem = await fillBindings(db, dependent);
    if (problem === undefined) {
      await updateTasks(db, [dependent.id], { state: 'pending' });
      released += 1;
    } else {
      released += await endTask(db, dependent, {
        state: 'completed',
        result: 'error',
        reason: 'binding',
        message: problem,
      });
    }
  }
  return released;
}

/**
 * Puts a running task back in the queue without counting it as a failure of
 * the task (its worker went away or handed it back). The attempt ends with
 * `outcome`; the task keeps its place in the queue.
 */
export async function requeueTask(
  db: Db,
  task: TaskRow,
  outcome: string,
  lostLease: boolean,
): Promise<void> {
  await db
    .updateTable('tasks')
    .set({
      state: 'pending',
      worker_id: null,
      lease_expires_at: null,
      started_at: null,
      lost_leases: lostLease ? task.lost_leases + 1 : task.lost_leases,
    })
    .where('id', '=', task.id)
    .execute();
  await endAttempt(db, task.id, task.attempt, outcome);
  await revokeTaskTokens(db, task.id);
}
