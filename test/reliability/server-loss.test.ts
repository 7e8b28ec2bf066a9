import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import {
  createCluster,
  startInstance,
  stopWithin,
  type Cluster,
  type ServeProcess,
} from '../helpers/cluster.ts';
import { submitTask, waitForLog, waitForTask } from '../helpers/tasks.ts';

describe('a server that goes away while a worker waits for work', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await createCluster();
  });
  after(async () => {
    await cluster.close();
  });

  /**
   * Starts a server and a worker, lets the worker run a task and go back to
   * waiting (a long poll of `pollWait` seconds), takes the server away with
   * `stop`, restarts it on its port and database a few seconds later, and
   * checks that the same worker process runs a task submitted after that.
   */
  async function loseAndRestart(
    name: string,
    pollWait: number,
    stop: (server: ServeProcess) => Promise<void>,
  ): Promise<void> {
    const { server, admin, enrolmentToken } = await startInstance(cluster, { name });
    const worker = await cluster.worker({
      name: `${name}-worker`,
      server: server.url,
      token: enrolmentToken,
      pollWait,
    });
    const before = await submitTask(admin, 'rel', { type: 'noop' });
    const ran = await waitForTask(admin, before.id, 'completed', (t) => t.state === 'completed');
    assert.equal(ran.worker, `${name}-worker`);
    await worker.waitFor(new RegExp(`task ${before.id}: success`), 10_000);

    await stop(server);
    await assert.rejects(fetch(`${server.url}/api/v1/health`), 'the server is gone');
    await sleep(3000); // the worker's long poll fails and it starts retrying
    assert.equal(worker.child.exitCode, null, 'the worker keeps running without its server');

    const restarted = await cluster.serve({ name, port: server.port });
    assert.equal(restarted.adminToken, undefined, 'the restart kept the instance');
    const afterRestart = await submitTask(admin, 'rel', {
      type: 'shell',
      input: { command: 'echo "after the restart on $KILN_TASK_ATTEMPT"' },
    });
    const done = await waitForTask(
      admin,
      afterRestart.id,
      'completed',
      (t) => t.state === 'completed',
      { timeoutMs: 90_000 },
    );
    assert.equal(done.result, 'success', JSON.stringify(done));
    assert.deepEqual(
      done.attempts.map((a) => [a.attempt, a.worker, a.outcome]),
      [[1, `${name}-worker`, 'success']],
    );
    await waitForLog(admin, afterRestart.id, /^after the restart on 1\n$/);
    assert.equal(worker.child.exitCode, null, 'the same worker process ran it');
  }

  it('killed with SIGKILL, is restarted; the worker reconnects by itself', async () => {
    await loseAndRestart('killed', 25, async (server) => {
      await cluster.crash(server.process);
      assert.equal(server.process.child.signalCode, 'SIGKILL');
    });
  });

  it('stopped with SIGTERM, ends without waiting out the long poll; the worker reconnects', async () => {
    // The worker's long poll lasts 60 s: the stop may take half that, not all.
    await loseAndRestart('stopped', 60, async (server) => {
      assert.deepEqual(await stopWithin(server.process, 'SIGTERM', 30_000), {
        code: 0,
        signal: null,
      });
    });
  });
});
