import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createCluster, startInstance, type Cluster } from '../helpers/cluster.ts';
import type { KilnProcess } from '../helpers/processes.ts';
import { listGroupMembers, waitForGroupGone } from '../helpers/process-tree.ts';
import {
  firstAttemptGroup,
  hangsOnFirstAttempt,
  readTaskLog,
  submitTask,
  waitForLog,
  waitForTask,
} from '../helpers/tasks.ts';

describe('a worker killed with SIGKILL in the middle of a task', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await createCluster();
  });
  after(async () => {
    await cluster.close();
  });

  it('loses its lease: the task is requeued and completes on the other worker', async () => {
    const { server, admin, enrolmentToken } = await startInstance(cluster, {
      name: 'short-lease',
      leaseTimeout: 3,
    });
    const workers = new Map<string, KilnProcess>();
    for (const name of ['crash-a', 'crash-b']) {
      workers.set(name, await cluster.worker({ name, server: server.url, token: enrolmentToken }));
    }

    const task = await submitTask(admin, 'rel', {
      type: 'shell',
      input: { command: hangsOnFirstAttempt(30) },
    });
    const running = await waitForTask(admin, task.id, 'running', (t) => t.state === 'running');
    const first = running.worker!;
    const victim = workers.get(first);
    assert.ok(victim, `the task runs on one of our workers, not ${first}`);
    const [other] = [...workers.keys()].filter((name) => name !== first);

    const [, group] = await waitForLog(admin, task.id, firstAttemptGroup);
    const pgid = Number(group);
    cluster.adoptTaskGroup(pgid);
    assert.ok((await listGroupMembers(pgid)).length > 0, 'the first attempt is running');

    await cluster.crash(victim);
    assert.equal(victim.child.signalCode, 'SIGKILL');
    await waitForGroupGone(pgid);

    const done = await waitForTask(admin, task.id, 'completed', (t) => t.state === 'completed', {
      timeoutMs: 90_000,
    });
    assert.equal(done.result, 'success', JSON.stringify(done));
    assert.equal(done.worker, other);
    assert.deepEqual(
      done.attempts.map((a) => [a.attempt, a.worker, a.outcome]),
      [
        [1, first, 'lease expired'],
        [2, other, 'success'],
      ],
    );
    const log = await readTaskLog(admin, task.id);
    assert.match(log, /--- kiln: attempt 2 ---\n.*finished attempt 2\n/s);
    assert.doesNotMatch(log, /finished attempt 1/);
  });

  it('restarted under its name, takes its task back at once, without waiting for the lease', async () => {
    // The default lease (30 s): only the re-enrolment can end the attempt as it must end.
    const { server, admin, enrolmentToken } = await startInstance(cluster, { name: 'long-lease' });
    const options = { name: 'crash-again', server: server.url, token: enrolmentToken };
    const worker = await cluster.worker(options);
    const task = await submitTask(admin, 'rel', {
      type: 'shell',
      input: { command: hangsOnFirstAttempt(60) },
    });
    const [, group] = await waitForLog(admin, task.id, firstAttemptGroup);
    cluster.adoptTaskGroup(Number(group));
    await cluster.crash(worker);
    await waitForGroupGone(Number(group));

    await cluster.worker(options);
    const done = await waitForTask(admin, task.id, 'completed', (t) => t.state === 'completed', {
      timeoutMs: 90_000,
    });
    assert.equal(done.result, 'success', JSON.stringify(done));
    assert.deepEqual(
      done.attempts.map((a) => [a.attempt, a.worker, a.outcome]),
      [
        [1, 'crash-again', 'worker re-enrolled'],
        [2, 'crash-again', 'success'],
      ],
    );
  });
});
