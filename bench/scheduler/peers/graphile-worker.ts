import { Logger, makeWorkerUtils, run, type LogFunctionFactory } from 'graphile-worker';
import type { Workload } from '../kiln-workers.ts';
import {
  createPickupProbe,
  createThroughputProbe,
  submitPaced,
  waitFor,
  type QueueFigures,
} from '../probes.ts';

const addBatch = 1000;

/**
 * graphile-worker with its default settings (one job at a time, LISTEN/NOTIFY
 * and a 2 s poll), on an empty database: the jobs added up front, then one
 * runner works them off; then, idle, it picks up one job every interval. Only
 * its logger is changed, to drop the line per job it prints by default.
 */
export async function measureGraphileWorker(
  url: string,
  workload: Workload,
  signal: AbortSignal,
  progress: (line: string) => void,
): Promise<QueueFigures> {
  const logger = new Logger(quietLogs);
  const utils = await makeWorkerUtils({ connectionString: url, logger });
  try {
    await utils.migrate();
    progress(`graphile-worker: adding ${workload.tasks} jobs`);
    for (let added = 0; added < workload.tasks; added += addBatch) {
      signal.throwIfAborted();
      const count = Math.min(addBatch, workload.tasks - added);
      await utils.addJobs(
        Array.from({ length: count }, () => ({ identifier: 'noop', payload: {} })),
      );
    }

    const throughput = createThroughputProbe(workload.tasks);
    const pickup = createPickupProbe(workload.pickupTasks);
    const runner = await run({
      connectionString: url,
      logger,
      noHandleSignals: true,
      taskList: {
        noop: async (payload) => {
          const key = (payload as { pickup?: number }).pickup;
          if (key === undefined) {
            throughput.claimed();
          } else {
            pickup.received(key);
          }
        },
      },
    });
    try {
      runner.events.on('job:complete', ({ job }) => {
        if (job.payload === null || !('pickup' in (job.payload as object))) {
          throughput.completed();
        }
      });
      await waitFor(
        () => throughput.done,
        workload.timeoutMs,
        signal,
        () => `${throughput.count} of ${workload.tasks} jobs completed`,
      );
      progress(
        `graphile-worker: ${workload.tasks} jobs in ${throughput.seconds().toFixed(2)} s ` +
          `(${(workload.tasks / throughput.seconds()).toFixed(0)}/s)`,
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await waitFor(
        async (stop) => {
          await submitPaced(
            workload.pickupTasks,
            workload.pickupIntervalMs,
            async (i) => {
              await utils.addJob('noop', { pickup: i });
              pickup.submitted(i);
            },
            stop,
          );
          await pickup.done;
        },
        workload.pickupTasks * workload.pickupIntervalMs + 30_000,
        signal,
        () => `${pickup.count} of ${workload.pickupTasks} jobs picked up`,
      );
    } finally {
      await runner.stop();
    }
    return {
      name: 'graphile-worker',
      settings: 'defaults: concurrency 1, LISTEN/NOTIFY, poll 2 s',
      tasks: workload.tasks,
      seconds: throughput.seconds(),
      pickup: pickup.latencies(workload.pickupWarmup),
    };
  } finally {
    await utils.release();
  }
}

/** Warnings and errors only, to stderr. */
const quietLogs: LogFunctionFactory = (scope) => (level, message) => {
  if (level === 'error' || level === 'warning') {
    process.stderr.write(`graphile-worker ${level} ${JSON.stringify(scope)}: ${message}\n`);
  }
};
