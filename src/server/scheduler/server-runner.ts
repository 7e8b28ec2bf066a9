import { hostname } from 'node:os';
import { sql } from 'kysely';
import { KilnError } from '../../protocol/errors.ts';
import type { TaskRow } from '../db/schema.ts';
import { claimNextTask } from './claim.repository.ts';
import type { SchedulerDeps } from './scheduler.ts';
import { endTask } from './task-lifecycle.ts';
import { saveTaskLog } from './task-log.ts';
import { insertLogChunk } from './task-log.repository.ts';
import { lockTask, notifyPending } from './task.repository.ts';

export interface ServerRunner {
  stop(): Promise<void>;
}

/**
 * Runs server-side tasks (repository changes and the like) on this server from
 * the same queue as workers use, `slots` at a time. Every server replica runs
 * one; claims with `SKIP LOCKED` keep them from taking a task twice.
 */
export function startServerRunner(deps: SchedulerDeps, slots: number): ServerRunner {
  const name = `server:${hostname()}:${process.pid}`;
  const stopping = new AbortController();
  const loops = Array.from({ length: slots }, () => runLoop());

  async function runLoop(): Promise<void> {
    while (!stopping.signal.aborted) {
      try {
        const task = await claimNextTask(
          deps.db,
          { runsOn: 'server' },
          { workerId: null, workerName: name, leaseSeconds: deps.leaseSeconds },
        );
        if (task === undefined) {
          const wake = await deps.wakeups.server.wait(5000, stopping.signal);
          // Another replica took it: hand the wake-up on.
          wake?.passOn();
          continue;
        }
        await runTask(task);
      } catch (error) {
        deps.logger.error({ err: error }, 'server task runner failed');
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  async function runTask(task: TaskRow): Promise<void> {
    const type = deps.registry.get(task.type);
    const abort = new AbortController();
    // Keep the lease while running, and stop when a user cancels.
    const keeper = setInterval(
      () => {
        void (async () => {
          const row = await deps.db
            .updateTable('tasks')
            .set({
              lease_expires_at: sql<Date>`now() + make_interval(secs => ${deps.leaseSeconds})`,
            })
            .where('id', '=', task.id)
            .where('attempt', '=', task.attempt)
            .where('state', '=', 'running')
            .returning('cancel_requested')
            .executeTakeFirst();
          if (row === undefined || row.cancel_requested) {
            abort.abort();
          }
        })().catch(() => undefined);
      },
      Math.max(250, (deps.leaseSeconds * 1000) / 4),
    );
    const timeLimit = setTimeout(() => {
      abort.abort();
    }, task.time_limit * 1000);
    let outcome: {
      result: 'success' | 'failure' | 'error';
      message?: string;
      output?: Record<string, unknown>;
    };
    try {
      if (type?.run === undefined) {
        outcome = { result: 'error', message: `this server cannot run ${task.type} tasks` };
      } else {
        outcome = await type.run({
          taskId: task.id,
          workspaceId: task.workspace_id,
          input: task.input,
          signal: abort.signal,
          log: (text) => insertLogChunk(deps.db, task.id, task.attempt, text),
        });
      }
    } catch (error) {
      outcome = {
        result: isRefusal(error) ? 'failure' : 'error',
        message: error instanceof Error ? error.message : String(error),
      };
    } finally {
      clearInterval(keeper);
      clearTimeout(timeLimit);
    }
    await deps.db.transaction().execute(async (trx) => {
      const row = await lockTask(trx, task.id);
      if (row?.state !== 'running' || row.attempt !== task.attempt) {
        return;
      }
      const woken = row.cancel_requested
        ? await endTask(trx, row, { state: 'cancelled', reason: 'cancelled' })
        : await endTask(trx, row, { state: 'completed', ...outcome });
      await notifyPending(trx, woken);
    });
    await saveTaskLog(deps, task.id);
  }

  return {
    async stop() {
      stopping.abort();
      await Promise.all(loops);
    },
  };
}

/**
 * Whether a server-side task refused its input (the submitter's fault: a
 * `failure`, not retried) rather than met trouble of the farm's (an `error`).
 */
function isRefusal(error: unknown): boolean {
  return (
    error instanceof KilnError &&
    ['bad_request', 'conflict', 'not_found', 'already_exists'].includes(error.code)
  );
}
