import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '../../src/client/client.ts';
import type { Task } from '../../src/protocol/tasks.schema.ts';
import { createCluster, startInstance, type Cluster } from '../helpers/cluster.ts';
import { listGroupMembers, waitForGroupGone } from '../helpers/process-tree.ts';
import { isOver, submitTask, waitForLog, waitForTask } from '../helpers/tasks.ts';
import { waitUntil } from '../helpers/waits.ts';

/** Says its process group, then waits in two sleeps: in a child shell and in the background of that. */
const sleepsInGroup = 'echo "group $$"; sh -c \'sleep 300 & sleep 300\'';

describe('a running shell task that is stopped', () => {
  let cluster: Cluster;
  let admin: Client;
  before(async () => {
    cluster = await createCluster();
    // A short lease: the worker heartbeats each second, and learns of a cancel then.
    const instance = await startInstance(cluster, { name: 'main', leaseTimeout: 4 });
    admin = instance.admin;
    const { url } = instance.server;
    await cluster.worker({ name: 'stopper', server: url, token: instance.enrolmentToken });
  });
  after(async () => {
    await cluster.close();
  });

  /** Starts `command`, waits for its group to show, and returns the task and the group. */
  async function startSleeper(
    body: { time_limit?: number },
    command = sleepsInGroup,
  ): Promise<[Task, number]> {
    const task = await submitTask(admin, 'rel', { type: 'shell', input: { command }, ...body });
    const [, group] = await waitForLog(admin, task.id, /group (\d+)\n/);
    const pgid = Number(group);
    cluster.adoptTaskGroup(pgid);
    await waitUntil('both sleeps of the group to run', async () => {
      const found = (await listGroupMembers(pgid)).filter((p) => p.command === 'sleep');
      return found.length === 2 || undefined;
    });
    return [task, pgid];
  }

  it('when cancelled, ends cancelled and leaves no process of its group', async () => {
    const [task, pgid] = await startSleeper({});
    const asked = await admin.json<Task>('POST', `/api/v1/tasks/${task.id}/cancel`);
    assert.equal(asked.state, 'running', 'a running task stops on its worker');
    assert.equal(asked.cancel_requested, true);

    const ended = await waitForTask(admin, task.id, 'over', isOver, { timeoutMs: 60_000 });
    assert.equal(ended.state, 'cancelled', JSON.stringify(ended));
    assert.equal(ended.reason, 'cancelled');
    assert.deepEqual(
      ended.attempts.map((a) => [a.attempt, a.outcome]),
      [[1, 'cancelled']],
    );
    await waitForGroupGone(pgid);
  });

  it('when cancelled, also stops processes that ignore SIGTERM', async () => {
    // Ignored signals stay ignored across exec: every process of the group ignores SIGTERM.
    const [task, pgid] = await startSleeper({}, `trap '' TERM; ${sleepsInGroup}`);
    await admin.json<Task>('POST', `/api/v1/tasks/${task.id}/cancel`);
    const ended = await waitForTask(admin, task.id, 'over', isOver, { timeoutMs: 60_000 });
    assert.equal(ended.state, 'cancelled', JSON.stringify(ended));
    await waitForGroupGone(pgid);
  });

  it('when over its time limit, fails with reason timeout and leaves no process', async () => {
    const [task, pgid] = await startSleeper({ time_limit: 2 });
    const ended = await waitForTask(admin, task.id, 'over', isOver, { timeoutMs: 60_000 });
    assert.equal(ended.state, 'completed', JSON.stringify(ended));
    assert.equal(ended.result, 'failure');
    assert.equal(ended.reason, 'timeout');
    assert.match(ended.message ?? '', /time limit of 2s/);
    await waitForGroupGone(pgid);
  });
});
