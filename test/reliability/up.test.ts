import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { createClient } from '../../src/client/client.ts';
import type { Task } from '../../src/protocol/tasks.schema.ts';
import { startFarm } from '../helpers/farm.ts';
import { listDescendants, listProcesses } from '../helpers/process-tree.ts';
import { childEnv, startKiln } from '../helpers/processes.ts';
import { readTaskLog } from '../helpers/tasks.ts';
import { waitUntil } from '../helpers/waits.ts';

it('`kiln up` runs its self-check task through its local worker on the first start', async () => {
  const farm = await startFarm();
  try {
    const out = farm.process.stdout();
    const submitted = /Self-check: task (\d+) \(shell\) submitted to workspace demo\.\.\.\n/.exec(
      out,
    );
    assert.ok(submitted, out);
    assert.match(out, /\n {2}signing {5}passphrase in \S+\/signer\.passphrase\n/);
    assert.match(
      out,
      /\n {2}completed, success on worker local; its log:\n {2}\| hello from the kiln farm, on \S+ \(\S+\)\n/,
    );

    // What it printed is what the farm recorded.
    const admin = createClient(farm.url, farm.adminToken);
    const id = Number(submitted[1]);
    const task = await admin.json<Task>('GET', `/api/v1/tasks/${id}`);
    assert.deepEqual(
      [task.state, task.result, task.workspace, task.worker],
      ['completed', 'success', 'demo', 'local'],
    );
    assert.match(await readTaskLog(admin, id), /^hello from the kiln farm, on /);
  } finally {
    await farm.close();
  }
});

it('`kiln up` stops, saying why, when its database process dies, and starts again on its data', async () => {
  const farm = await startFarm();
  try {
    const up = farm.process.child.pid ?? 0;
    const descendants = await listDescendants(up);
    const database = await findAsync(descendants, async ({ pid }) =>
      (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes(
        'pglite-process-child',
      ),
    );
    assert.ok(database, 'kiln up runs its embedded database in a process of its own');
    process.kill(database.pid, 'SIGKILL');
    // SIGCONT changes nothing: this only waits for the end.
    const ended = await farm.process.stop('SIGCONT');
    assert.equal(ended.code, 1);
    const log = await readFile(join(farm.dataDir, 'server.log'), 'utf8');
    assert.match(log, /"msg":"database lost"/);
    assert.match(log, /embedded database process \(PGlite\) exited on SIGKILL/);
    // Its local worker went with it.
    await waitUntil('the local worker to end', async () =>
      (await listDescendants(up)).length === 0 &&
      !(await listProcesses()).some((p) => descendants.some((d) => d.pid === p.pid))
        ? true
        : undefined,
    );

    // The database recovers what was committed.
    const again = startKiln(
      ['up', '--data', farm.dataDir, '--port', new URL(farm.url).port],
      childEnv({ XDG_CONFIG_HOME: farm.configHome('admin') }),
    );
    try {
      await again.waitFor(/Stop with Ctrl-C\./, 180_000);
      const admin = createClient(farm.url, farm.adminToken);
      const workspaces = await admin.json<{ items: { name: string }[] }>(
        'GET',
        '/api/v1/workspaces',
      );
      assert.ok(workspaces.items.some((w) => w.name === 'demo'));
    } finally {
      await again.stop('SIGTERM');
    }
  } finally {
    await farm.close();
  }
});

async function findAsync<T>(
  items: readonly T[],
  test: (item: T) => Promise<boolean>,
): Promise<T | undefined> {
  for (const item of items) {
    if (await test(item)) {
      return item;
    }
  }
  return undefined;
}
