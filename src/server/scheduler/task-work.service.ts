import { KilnError } from '../../protocol/errors.ts';
import type { CompleteTaskBody } from '../../protocol/tasks.schema.ts';
import type { CompletedAttempt } from '../../protocol/workers.schema.ts';
import type { Actor, TaskActor } from '../auth/actor.ts';
import type { Db } from '../db/connect.ts';
import type { TaskRow } from '../db/schema.ts';
import type { SchedulerDeps } from './scheduler.ts';
import { endTask, requeueTask } from './task-lifecycle.ts';
import { saveTaskLog } from './task-log.ts';
import { insertLogChunk } from './task-log.repository.ts';
import { endTaskAlone, lockTask, notifyPending } from './task.repository.ts';

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

/** An attempt whose result is reported: by its task token, or by the worker running it. */
interface OwnAttempt {
  readonly taskId: number;
  readonly attempt: number;
  /** The worker that reports it, which must be the one the attempt runs on. */
  readonly workerId?: number | undefined;
}

/**
 * Locks the task and checks the attempt is still the running one (a lease
 * may have expired since the token was checked), on the reporting worker.
 */
async function lockOwnAttempt(db: Db, own: OwnAttempt): Promise<TaskRow> {
  const task = await lockTask(db, own.taskId);
  if (
    task?.state !== 'running' ||
    task.attempt !== own.attempt ||
    (own.workerId !== undefined && task.worker_id !== own.workerId)
  ) {
    throw new KilnError('stale_attempt', `attempt ${own.attempt} of task ${own.taskId} is over`);
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
 * Records the result of the task's current attempt, reported with its task
 * token. A task asked to cancel that did not succeed ends as cancelled. The
 * live log is then saved as an artifact, and tasks that waited for this one
 * are released or ended.
 */
export async function completeTask(
  deps: SchedulerDeps,
  actor: Actor,
  taskId: number,
  body: CompleteTaskBody,
): Promise<void> {
  const task = requireTaskToken(actor, taskId);
  await completeAttempt(deps, task, body);
}

/**
 * Records the result of an attempt that the worker `workerId` runs, reported
 * with the worker's next claim (`completeTask` otherwise). An attempt that is
 * over, or runs on another worker, is refused with `stale_attempt`, as its
 * task token would be.
 */
export async function completeWorkerAttempt(
  deps: SchedulerDeps,
  workerId: number,
  completed: CompletedAttempt,
): Promise<void> {
  const { task, attempt, ...body } = completed;
  await completeAttempt(deps, { taskId: task, attempt, workerId }, body);
}

async function completeAttempt(
  deps: SchedulerDeps,
  own: OwnAttempt,
  body: CompleteTaskBody,
): Promise<void> {
  // Most tasks end alone: nothing waits for them and no one asked to cancel.
  const alone = await endTaskAlone(deps.db, own, {
    result: body.result,
    reason: body.reason ?? null,
    message: body.message ?? null,
    output: body.output ?? null,
  });
  if (alone === undefined) {
    await deps.db.transaction().execute(async (trx) => {
      const row = await lockOwnAttempt(trx, own);
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
  }
  if (alone?.hasLog === false) {
    return;
  }
  await saveTaskLog(deps, own.taskId).catch((error: unknown) => {
    deps.logger.error(
      { err: error, task: own.taskId },
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
