import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import type { Workload } from '../kiln-workers.ts';
import {
  createPickupProbe,
  createThroughputProbe,
  submitPaced,
  waitFor,
  type QueueFigures,
} from '../probes.ts';

const queue = 'noop';
const insertBatch = 1000;
/**
 * pg-boss's defaults fetch one job per 2 s poll (`batchSize` 1, no NOTIFY):
 * 20,000 jobs would take 11 hours. These are its own knobs for a busy queue,
 * as its documentation gives them: NOTIFY wake-ups, and batches fetched back
 * to back while they come full.
 */
const workOptions = { batchSize: 100, burstWhenBatchFull: true } as const;

/**
 * pg-boss on an empty database: the jobs inserted up front, then one `work`
 * loop works them off; then, idle, it picks up one job every interval.
 */
export async function measurePgBoss(
  url: string,
  workload: Workload,
  signal: AbortSignal,
  progress: (line: string) => void,
): Promise<QueueFigures> {
  const boss = new PgBoss({ connectionString: url, useListenNotify: true });
  const errors: unknown[] = [];
  boss.on('error', (error) => {
    errors.push(error);
  });
  await boss.start();
  const counter = new pg.Client({ connectionString: url });
  await counter.connect();
  try {
    await boss.createQueue(queue, { notify: true });
    progress(`pg-boss: inserting ${workload.tasks} jobs`);
    for (let added = 0; added < workload.tasks; added += insertBatch) {
      signal.throwIfAborted();
      const count = Math.min(insertBatch, workload.tasks - added);
      await boss.insert(
        queue,
        Array.from({ length: count }, () => ({ data: {} })),
      );
    }

    const throughput = createThroughputProbe(workload.tasks);
    const pickup = createPickupProbe(workload.pickupTasks);
    let handled = 0;
    await boss.work<{ pickup?: number }>(queue, workOptions, async (jobs) => {
      for (const job of jobs) {
        if (job.data.pickup === undefined) {
          throughput.claimed();
          handled += 1;
        } else {
          pickup.received(job.data.pickup);
        }
      }
    });
    // pg-boss completes a batch after its handler returns, and says nothing
    // when it has: the last completion is read from its table.
    await waitFor(
      async (stop) => {
        while (handled < workload.tasks) {
          await sleep(10, undefined, { signal: stop });
        }
        for (let done = 0; done < workload.tasks;) {
          const result = await counter.query<{ n: number }>(
            "select count(*)::int as n from pgboss.job where name = $1 and state = 'completed'",
            [queue],
          );
          done = result.rows[0]?.n ?? 0;
          if (done < workload.tasks) {
            await sleep(5, undefined, { signal: stop });
          }
        }
        for (let i = 0; i < workload.tasks; i += 1) {
          throughput.completed();
        }
      },
      workload.timeoutMs,
      signal,
      () => `${handled} of ${workload.tasks} jobs handled`,
    );
    progress(
      `pg-boss: ${workload.tasks} jobs in ${throughput.seconds().toFixed(2)} s ` +
        `(${(workload.tasks / throughput.seconds()).toFixed(0)}/s)`,
    );
    await sleep(1000);
    await waitFor(
      async (stop) => {
        await submitPaced(
          workload.pickupTasks,
          workload.pickupIntervalMs,
          async (i) => {
            await boss.send(queue, { pickup: i });
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
    if (errors.length > 0) {
      throw new Error(`pg-boss reported ${errors.length} errors`, { cause: errors[0] });
    }
    return {
      name: 'pg-boss',
      settings: `NOTIFY queue, batchSize ${workOptions.batchSize}, burstWhenBatchFull`,
      tasks: workload.tasks,
      seconds: throughput.seconds(),
      pickup: pickup.latencies(workload.pickupWarmup),
    };
  } finally {
    await counter.end();
    await boss.stop({ graceful: true, timeout: 5000 });
  }
}
