import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createClient } from '../../src/client/client.ts';
import { createEnrolmentToken, itOnPostgres, startInstance } from '../helpers/cluster.ts';
import { submitTask } from '../helpers/tasks.ts';
import { waitUntil } from '../helpers/waits.ts';

const taskCount = 400;

itOnPostgres(
  `hands each of ${taskCount} tasks out once with two servers on one schema`,
  async ({ cluster, schema, database, diagnostic }) => {
    const { server: first, adminToken } = await startInstance(cluster, {
      name: 'a',
      database: schema.url,
    });
    const second = await cluster.serve({ name: 'b', database: schema.url });
    assert.equal(second.adminToken, undefined, 'the second server joined the instance');
    const servers = [first, second];
    const admins = servers.map((s) => createClient(s.url, adminToken));
    // Each server enrols the workers that talk to it.
    const names: string[] = [];
    for (const [i, server] of servers.entries()) {
      const token = await createEnrolmentToken(server.url, adminToken);
      for (const n of [1, 2]) {
        const name = `two-${'ab'[i]}${n}`;
        await cluster.worker({ name, server: server.url, token });
        names.push(name);
      }
    }

    // Submitted through both servers, by 4 clients each.
    let submitted = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, client) => {
        while (submitted < taskCount) {
          submitted += 1;
          await submitTask(admins[client % 2]!, 'rel', { type: 'noop' });
        }
      }),
    );
    let states: unknown[] = [];
    await waitUntil(
      'every task to complete',
      async () => {
        const { rows } = await sql<{ state: string; n: number }>`
          select state, count(*)::int as n from tasks group by state`.execute(database.db);
        states = rows;
        return rows.length === 1 && rows[0]?.state === 'completed' ? rows : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 500, describe: () => JSON.stringify(states) },
    );

    const { rows: tasks } = await sql<{ result: string; attempt: number; n: number }>`
      select result, attempt, count(*)::int as n from tasks group by 1, 2`.execute(database.db);
    assert.deepEqual(tasks, [{ result: 'success', attempt: 1, n: taskCount }]);
    // Handed out once: one attempt per task, which succeeded.
    const { rows: attempts } = await sql<{ attempt: number; outcome: string; n: number }>`
      select attempt, outcome, count(*)::int as n from task_attempts group by 1, 2`.execute(
      database.db,
    );
    assert.deepEqual(attempts, [{ attempt: 1, outcome: 'success', n: taskCount }]);
    const { rows: perWorker } = await sql<{ worker_name: string; n: number }>`
      select worker_name, count(*)::int as n from task_attempts
      group by worker_name order by worker_name`.execute(database.db);
    diagnostic(`tasks per worker: ${JSON.stringify(perWorker)}`);
    const workersOf = (server: string) =>
      perWorker.filter((w) => w.worker_name.startsWith(`two-${server}`));
    assert.ok(workersOf('a').length > 0, 'workers of server a ran tasks');
    assert.ok(workersOf('b').length > 0, 'workers of server b ran tasks');
    assert.deepEqual(
      perWorker.map((w) => w.worker_name).filter((n) => !names.includes(n)),
      [],
      'only our workers ran tasks',
    );
  },
);
