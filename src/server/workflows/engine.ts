import type { Logger } from 'pino';
import { KilnError } from '../../protocol/errors.ts';
import { abortLockedRun } from './run-advance.ts';
import type { OpenDatabase } from '../db/connect.ts';
import { advanceRun, type WorkflowDeps } from './workflow.service.ts';
import {
  deleteExpiredRuns,
  listWokenRuns,
  lockRun,
  lockRunUnlessBusy,
  runWakeupChannel,
  takeWakeups,
} from './workflow.repository.ts';

export interface WorkflowEngine {
  stop(): Promise<void>;
}

/**
 * Moves runs on when their tasks change. Ending (or retrying) a task of a run
 * leaves a wake-up row in the same transaction (a trigger on `tasks`, see
 * migration 0009) and a NOTIFY; every server replica runs an engine that
 * hears the NOTIFY and also sweeps the wake-up table every `sweepMs`, so a
 * wake-up missed (a replica that died, a dropped connection) is handled at
 * the next sweep. A run is advanced under its row lock taken with `SKIP
 * LOCKED`: one replica at a time, and a busy run's wake-ups wait for the next
 * sweep. Expired finished runs are deleted as it goes.
 */
export async function startWorkflowEngine(
  deps: WorkflowDeps,
  database: OpenDatabase,
  logger: Logger,
  options: { readonly sweepMs?: number } = {},
): Promise<WorkflowEngine> {
  const queued = new Set<number>();
  const stopping = new AbortController();
  let wake: (() => void) | undefined;
  const stopListening = await database.listen(runWakeupChannel, (payload) => {
    queued.add(Number(payload));
    wake?.();
  });
  let lastExpiry = 0;

  async function sweep(): Promise<void> {
    for (const id of await listWokenRuns(deps.db, 100)) {
      queued.add(id);
    }
    if (Date.now() - lastExpiry > 60_000) {
      lastExpiry = Date.now();
      const deleted = await deleteExpiredRuns(deps.db, 1000);
      if (deleted > 0) {
        logger.info({ runs: deleted }, 'expired workflow runs deleted');
      }
    }
  }

  async function process(id: number): Promise<void> {
    await deps.db.transaction().execute(async (trx) => {
      const run = await lockRunUnlessBusy(trx, id);
      if (run === undefined) {
        return;
      }
      await takeWakeups(trx, id);
      await advanceRun(trx, deps, run);
    });
  }

  async function loop(): Promise<void> {
    let nextSweep = 0;
    while (!stopping.signal.aborted) {
      try {
        if (Date.now() >= nextSweep) {
          nextSweep = Date.now() + (options.sweepMs ?? 2000);
          await sweep();
        }
        for (const id of [...queued]) {
          queued.delete(id);
          try {
            await process(id);
          } catch (error) {
            if (error instanceof KilnError) {
              // The workflow cannot go on: the run ends as an error, not retried forever.
              await deps.db.transaction().execute(async (trx) => {
                const run = await lockRun(trx, id);
                await takeWakeups(trx, id);
                if (run !== undefined) {
                  await abortLockedRun(trx, run, error.message, { asError: true });
                }
              });
              continue;
            }
            // The wake-up stays: the next sweep tries again.
            logger.error({ err: error, run: id }, 'advancing a workflow run failed');
          }
        }
      } catch (error) {
        logger.error({ err: error }, 'workflow engine sweep failed');
      }
      if (queued.size === 0) {
        await new Promise<void>((resolve) => {
          if (stopping.signal.aborted) {
            resolve();
            return;
          }
          const timer = setTimeout(resolve, Math.max(0, nextSweep - Date.now()));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
          stopping.signal.addEventListener('abort', wake, { once: true });
        });
        wake = undefined;
      }
    }
  }

  const running = loop();
  return {
    async stop() {
      stopping.abort();
      wake?.();
      await running;
      await stopListening();
    },
  };
}
