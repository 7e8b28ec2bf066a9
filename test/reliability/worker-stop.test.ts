import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '../../src/client/client.ts';
import {
  createCluster,
  startInstance,
  stopWithin,
  type Cluster,
  type ServeProcess,
} from '../helpers/cluster.ts';
import { listGroupMembers, waitForGroupGone } from '../helpers/process-tree.ts';
import {
  firstAttemptGroup,
  hangsOnFirstAttempt,
  readTaskLog,
  showTask,
  submitTask,
  waitForLog,
  waitForTask,
} from '../helpers/tasks.ts';

const hangsOnce = hangsOnFirstAttempt(60);

describe('a worker stopped with SIGTERM', () => {
  let cluster: Cluster;
  let server: ServeProcess;
  let admin: Client;
  let token: string;
  before(async () => {
    cluster = await createCluster();
    ({ server, admin, enrolmentToken: token } = await startInstance(cluster, { name: 'main' }));
  });
  after(async () => {
    await cluster.close();
  });

  /** Submits `command` and waits until `worker` runs it and has said `ready` in its log. */
  async function startTask(worker: string, command: string, ready: RegExp) {
    const task = await submitTask(admin, 'rel', { type: 'shell', input: { command } });
    const running = await waitForTask(admin, task.id, 'running', (t) => t.state === 'running');
    assert.equal(running.worker, worker);
    const said = await waitForLog(admin, task.id, ready);
    return { id: task.id, said };
  }

  it('lets a short task finish, reports it, and exits 0', async () => {
    const worker = await cluster.worker({ name: 'stop-short', server: server.url, token });
    const task = await startTask('stop-short', 'echo started; sleep 2; echo finished', /started/);
    assert.deepEqual(await stopWithin(worker, 'SIGTERM', 60_000), { code: 0, signal: null });
    assert.match(worker.stderr(), new RegExp(`stopping: letting task ${task.id} finish`));

    const done = await waitForTask(admin, task.id, 'completed', (t) => t.state === 'completed');
    assert.equal(done.result, 'success', JSON.stringify(done));
    assert.deepEqual(
      done.attempts.map((a) => [a.attempt, a.worker, a.outcome]),
      [[1, 'stop-short', 'success']],
    );
    assert.equal(await readTaskLog(admin, task.id), 'started\nfinished\n');
  });

  it('hands a long task back after its drain timeout; another worker runs it', async () => {
    const worker = await cluster.worker({
      name: 'stop-drain',
      server: server.url,
      token,
      drainTimeout: 1,
    });
    const task = await startTask('stop-drain', hangsOnce, firstAttemptGroup);
    const pgid = Number(task.said[1]);
    cluster.adoptTaskGroup(pgid);
    assert.deepEqual(await stopWithin(worker, 'SIGTERM', 60_000), { code: 0, signal: null });
    assert.match(worker.stderr(), new RegExp(`task ${task.id}: handed back`));
    await waitForGroupGone(pgid);

    const back = await waitForTask(admin, task.id, 'pending', (t) => t.state === 'pending');
    assert.deepEqual(
      back.attempts.map((a) => [a.attempt, a.worker, a.outcome]),
      [[1, 'stop-drain', 'handed back']],
    );
    const other = await cluster.worker({ name: 'stop-other', server: server.url, token });
    const done = await waitForTask(admin, task.id, 'completed', (t) => t.state === 'completed');
    assert.equal(done.result, 'success', JSON.stringify(done));
    assert.deepEqual(
      done.attempts.map((a) => [a.attempt, a.worker, a.outcome]),
      [
        [1, 'stop-drain', 'handed back'],
        [2, 'stop-other', 'success'],
      ],
    );
    assert.match(await readTaskLog(admin, task.id), /finished attempt 2\n$/);
    assert.deepEqual(await stopWithin(other, 'SIGTERM', 60_000), { code: 0, signal: null });
  });

  it('hands the task back at once on a second SIGTERM', async () => {
    // The default drain timeout (600 s) is far longer than this test may wait.
    const worker = await cluster.worker({ name: 'stop-twice', server: server.url, token });
    const task = await startTask('stop-twice', hangsOnce, firstAttemptGroup);
    const pgid = Number(task.said[1]);
    cluster.adoptTaskGroup(pgid);

    worker.child.kill('SIGTERM');
    await worker.waitFor(new RegExp(`stopping: letting task ${task.id} finish \\(up to 600 s\\)`));
    await sleep(2000); // a while later, the task still runs
    assert.equal(worker.child.exitCode, null, 'the first SIGTERM lets the task run on');
    assert.ok((await listGroupMembers(pgid)).length > 0, 'its processes still run');
    assert.equal((await showTask(admin, task.id)).state, 'running');
    assert.deepEqual(await stopWithin(worker, 'SIGTERM', 60_000), { code: 0, signal: null });
    assert.match(worker.stderr(), new RegExp(`task ${task.id}: handed back`));
    await waitForGroupGone(pgid);

    const back = await waitForTask(admin, task.id, 'pending', (t) => t.state === 'pending');
    assert.deepEqual(
      back.attempts.map((a) => [a.attempt, a.worker, a.outcome]),
      [[1, 'stop-twice', 'handed back']],
    );
    const cancelled = await admin.json<{ state: string }>(
      'POST',
      `/api/v1/tasks/${task.id}/cancel`,
    );
    assert.equal(cancelled.state, 'cancelled', 'a pending task is cancelled at once');
  });
});
