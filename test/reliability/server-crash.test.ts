import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { OpenDatabase } from '../../src/server/db/connect.ts';
import { itOnPostgres, startInstance } from '../helpers/cluster.ts';
import type { KilnProcess } from '../helpers/processes.ts';
import { submitTask } from '../helpers/tasks.ts';
import { waitUntil } from '../helpers/waits.ts';

const taskCount = 1000;

/** How many of the schema's tasks are in each state. */
async function countStates(database: OpenDatabase): Promise<Record<string, number>> {
  const { rows } = await sql<{ state: string; n: number }>`
    select state, count(*)::int as n from tasks group by state`.execute(database.db);
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

itOnPostgres(
  `completes ${taskCount} tasks exactly once when the server is killed midway and restarted`,
  async ({ cluster, schema, database, diagnostic }) => {
    // A short lease: a claim whose answer the crash swallowed comes back soon.
    const settings = { name: 'main', database: schema.url, leaseTimeout: 5 };
    const { server, admin, enrolmentToken: token } = await startInstance(cluster, settings);
    const workers: KilnProcess[] = [];
    for (let i = 1; i <= 4; i++) {
      workers.push(await cluster.worker({ name: `crash-w${i}`, server: server.url, token }));
    }

    // Submitted by 8 clients at once; the workers start on them meanwhile.
    let submitted = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (submitted < taskCount) {
          submitted += 1;
          await submitTask(admin, 'rel', { type: 'shell', input: { command: 'sleep 0.05' } });
        }
      }),
    );
    const { rows: total } = await sql<{ n: number }>`
      select count(*)::int as n from tasks`.execute(database.db);
    assert.equal(total[0]?.n, taskCount);

    await waitUntil(
      'a third of the tasks to complete',
      async () => ((await countStates(database))['completed'] ?? 0) >= taskCount / 3 || undefined,
      { timeoutMs: 120_000, intervalMs: 50 },
    );
    await cluster.crash(server.process);
    const atCrash = await countStates(database);
    assert.ok(
      (atCrash['completed'] ?? 0) < taskCount,
      `the crash came midway: ${JSON.stringify(atCrash)}`,
    );

    // Down for longer than a lease: the restarted server takes back the tasks
    // that were running, while their workers still try to report them.
    await sleep(settings.leaseTimeout * 1000 + 2000);
    await cluster.serve({ ...settings, port: server.port });
    let states: Record<string, number> = {};
    await waitUntil(
      'every task to complete after the restart',
      async () => {
        states = await countStates(database);
        return states['completed'] === taskCount || undefined;
      },
      { timeoutMs: 150_000, intervalMs: 500, describe: () => JSON.stringify(states) },
    );

    const { rows: results } = await sql<{ result: string | null; n: number }>`
      select result, count(*)::int as n from tasks group by result`.execute(database.db);
    assert.deepEqual(results, [{ result: 'success', n: taskCount }]);
    // The attempts: each task has exactly one that succeeded, and none is left open.
    const { rows: perTask } = await sql<{ successes: number; tasks: number }>`
      select successes, count(*)::int as tasks from (
        select t.id, (count(a.attempt) filter (where a.outcome = 'success'))::int as successes
        from tasks t left join task_attempts a on a.task_id = t.id group by t.id) s
      group by successes order by successes`.execute(database.db);
    assert.deepEqual(perTask, [{ successes: 1, tasks: taskCount }]);
    const { rows: outcomes } = await sql<{ outcome: string; n: number }>`
      select outcome, count(*)::int as n from task_attempts group by outcome`.execute(database.db);
    diagnostic(`at the crash: ${JSON.stringify(atCrash)}; attempts: ${JSON.stringify(outcomes)}`);
    const { rows: open } = await sql<{ n: number }>`
      select count(*)::int as n from task_attempts where ended_at is null`.execute(database.db);
    assert.equal(open[0]?.n, 0, 'every attempt has ended');
    for (const worker of workers) {
      assert.equal(worker.child.exitCode, null, 'the workers rode the crash out');
    }
  },
);
