import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createClient } from '../../src/client/client.ts';
import type { Task } from '../../src/protocol/tasks.schema.ts';
import { startFarm } from '../helpers/farm.ts';
import { readTaskLog } from '../helpers/tasks.ts';

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
