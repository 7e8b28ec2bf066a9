import { KilnError } from '../../protocol/errors.ts';
import type { CompleteTaskBody } from '../../protocol/tasks.schema.ts';
import type { Actor, TaskActor } from '../auth/actor.ts';
import type { Db } from '../db/connect.ts';
import type { TaskRow } from '../db/schema.ts';
import type { SchedulerDeps } from './scheduler.ts';
import { endTask, requeueTask } from './task-lifecycle.ts';
import { saveTaskLog } from './task-log.ts';
import { insertLogChunk } from './task-log.repository.ts';
import { lockTask, notifyPending } from './task.repository.ts';

/** What a worker learns when it posts to a task: whether to stop it. */
export interface TaskAck {
  readonly cancel: boolean;
}

/**
 * Requires the task token of this very task (its current attempt). A caller
 * without a token is asked for one (401); any other token is refused (403),
 * before the task is looked up, so the answer says nothing about the task.
 */
function requireTaskToken(actor: Actor, taskId: number): TaskActor {
  if (actor.kind !== 'task' || actor.taskId !== taskId) {
    throw new KilnError(
      actor.kind === 'anonymous' ? 'unauthenticated' : 'forbidden',
      `this needs the task token of task ${taskId}`,
    );
  }
  return actor;
}

/**
 * Locks the task and checks the actor's attempt is still the running one (a
 * lease may have expired since the token was checked).
 */
async function lockOwnAttempt(db: Db, actor: TaskActor): Promise<TaskRow> {
  const task = await lockTask(db, actor.taskId);
  if (task?.state !== 'running' || task.attempt !== actor.attempt) {
    throw new KilnError(
      'stale_attempt',
      `attempt ${actor.attempt} of task ${actor.taskId} is over`,
    );
  }
  return task;
}

/** Appends a chunk to the task's live log. */
export async function appendTaskLog(
  deps: SchedulerDeps,
  actor: Actor,
  taskId: number,
  data: string,
): Promise<TaskAck> {
  const task = requireTaskToken(actor, taskId);
  return deps.db.transaction().execute(async (trx) => {
    const row = await lockOwnAttempt(trx, task);
    if (data.length > 0) {
      await insertLogChunk(trx, taskId, task.attempt, data);
    }
    return { cancel: row.cancel_requested };
  });
}

/**
 * Records the result of the task's current attempt. A task asked to cancel
 * that did not succeed ends as cancelled. The live log is then saved as an
 * artifact, and tasks that waited for this one are released or ended.
 */
export async function completeTask(
  deps: SchedulerDeps,
  actor: Actor,
  taskId: number,
  body: CompleteTaskBody,
): Promise<void> {
  const task = requireTaskToken(actor, taskId);
  await deps.db.transaction().execute(async (trx) => {
    const row = await lockOwnAttempt(trx, task);
    const woken =
      row.cancel_requested && body.result !== 'success'
        ? await endTask(trx, row, {
            state: 'cancelled',
            reason: 'cancelled',
            message: body.message,
          })
        : await endTask(trx, row, {
            state: 'completed',
            result: body.result,
            reason: body.reason,
            message: body.message,
            output: body.output,
          });
    await notifyPending(trx, woken);
  });
  await saveTaskLog(deps, taskId).catch((error: unknown) => {
    deps.logger.error(
      { err: error, task: taskId },
      'saving the task log failed; the reaper retries',
    );
  });
}

/** Hands the task back to the queue (a worker stopping), without counting a failure. */
export async function releaseTask(
  deps: SchedulerDeps,
  actor: Actor,
  taskId: number,
): Promise<void> {
  const task = requireTaskToken(actor, taskId);
  await deps.db.transaction().execute(async (trx) => {
    const row = await lockOwnAttempt(trx, task);
    if (row.cancel_requested) {
      await endTask(trx, row, { state: 'cancelled', reason: 'cancelled' });
      return;
    }
    await requeueTask(trx, row, 'handed back', false);
    await notifyPending(trx, 1, row.runs_on);
  });
}
