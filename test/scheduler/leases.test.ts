import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, it } from 'node:test';
import { declare, fileUrl } from '../helpers/artifacts.ts';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  createSchedulerCast,
  createTaskWorkspace,
  enrolWorker,
  finish,
  getTask,
  resetScheduler,
  submitTask,
  uniqueName,
  waitForTask,
  type SchedulerCast,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** Seconds a lease lasts without a heartbeat (the smallest the server takes). */
const leaseTimeout = 2;

function outcomes(task: { attempts: { attempt: number; outcome: string | null }[] }) {
  return task.attempts.map((a) => [a.attempt, a.outcome]);
}

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  let workspace: string;
  before(async () => {
    server = await startTestServer(backend, { 'lease-timeout': String(leaseTimeout) });
    cast = await createSchedulerCast(server);
    workspace = await createTaskWorkspace(cast.alice, 'lease');
  });
  after(async () => {
    await server.close();
  });
  afterEach(async () => {
    await resetScheduler(server);
  });

  it('a task whose worker stops heartbeating goes back to the queue and runs again', async () => {
    const task = await submitTask(cast.alice, workspace);
    const lost = await enrolWorker(server, uniqueName('lost'));
    const first = await lost.claimOrFail(1);
    assert.equal(first.attempt, 1);
    assert.equal((await lost.heartbeat()).lease_timeout, leaseTimeout);
    const requeued = await waitForTask(
      cast.alice,
      task.id,
      'pending',
      (t) => t.state === 'pending',
    );
    assert.equal(requeued.worker, null);
    assert.deepEqual(outcomes(requeued), [[1, 'lease expired']]);
    const other = await enrolWorker(server, uniqueName('other'));
    const second = await other.claimOrFail(1);
    assert.equal(second.id, task.id);
    assert.equal(second.attempt, 2);
    await finish(second);
    const done = await getTask(cast.alice, task.id);
    assert.deepEqual(
      [done.state, done.result, done.attempt, done.worker],
      ['completed', 'success', 2, other.name],
    );
    assert.deepEqual(outcomes(done), [
      [1, 'lease expired'],
      [2, 'success'],
    ]);
  });

  it('after max_lost_leases lost leases the task ends as error/lease-expired', async () => {
    const task = await submitTask(cast.alice, workspace, { max_lost_leases: 1 });
    const worker = await enrolWorker(server, uniqueName('flaky'));
    await worker.claimOrFail(1);
    await waitForTask(cast.alice, task.id, 'pending', (t) => t.state === 'pending');
    const again = await worker.claimOrFail(1);
    assert.equal(again.attempt, 2);
    const ended = await waitForTask(cast.alice, task.id, 'ended', (t) => t.state !== 'running');
    assert.deepEqual(
      [ended.state, ended.result, ended.reason],
      ['completed', 'error', 'lease-expired'],
    );
    assert.deepEqual(outcomes(ended), [
      [1, 'lease expired'],
      [2, 'error'],
    ]);
    assert.equal(await worker.claim(), undefined, 'it is not queued again');
  });

  it('heartbeats keep a task running past the lease timeout', async () => {
    const task = await submitTask(cast.alice, workspace, { max_lost_leases: 0 });
    const worker = await enrolWorker(server, uniqueName('alive'));
    const claimed = await worker.claimOrFail(1);
    const claimedAt = Date.now();
    // Past the lease timeout plus a reaper round, the lease would be gone without the beats.
    for (let beats = 0; Date.now() - claimedAt < (leaseTimeout + 1.5) * 1000; beats += 1) {
      assert.ok(beats < 50, 'bounded');
      const beat = await worker.heartbeat({ running: [{ task: task.id, attempt: 1 }] });
      assert.deepEqual(beat.cancel, []);
      await sleep(400);
    }
    const alive = await getTask(cast.alice, task.id);
    assert.deepEqual([alive.state, alive.attempt, alive.worker], ['running', 1, worker.name]);
    await finish(claimed);
    const done = await getTask(cast.alice, task.id);
    assert.deepEqual(outcomes(done), [[1, 'success']]);
  });

  it("a task its worker does not say it runs (the claim's answer was lost) loses its lease", async () => {
    const task = await submitTask(cast.alice, workspace);
    const worker = await enrolWorker(server, uniqueName('forgetful'));
    const claimed = await worker.claimOrFail(1);
    assert.equal(claimed.id, task.id);
    // The worker beats on, running nothing: its answer never reached it.
    let requeued: Parameters<typeof outcomes>[0] | undefined;
    for (let beats = 0; requeued === undefined; beats += 1) {
      assert.ok(beats < 50, `still ${(await getTask(cast.alice, task.id)).state} after 20 s`);
      const beat = await worker.heartbeat({ running: [] });
      assert.deepEqual(beat.cancel, []);
      await sleep(400);
      const seen = await getTask(cast.alice, task.id);
      requeued = seen.state === 'pending' ? seen : undefined;
    }
    assert.deepEqual(outcomes(requeued), [[1, 'lease expired']]);
  });

  it('a lease that runs out on a task asked to cancel ends it cancelled', async () => {
    const task = await submitTask(cast.alice, workspace);
    const worker = await enrolWorker(server, uniqueName('gone'));
    await worker.claimOrFail(1);
    assertStatus(await cast.alice.post(`/api/v1/tasks/${task.id}/cancel`), 200);
    const ended = await waitForTask(cast.alice, task.id, 'ended', (t) => t.state !== 'running');
    assert.deepEqual([ended.state, ended.result], ['cancelled', null]);
  });

  it("the old attempt's token is refused once the task was requeued and reclaimed: it never completes twice", async () => {
    const task = await submitTask(cast.alice, workspace);
    const lost = await enrolWorker(server, uniqueName('lost'));
    const old = await lost.claimOrFail(1);
    // While its attempt runs, the old token works: a log line, an artifact with a file to upload.
    assertStatus(await old.log('attempt 1\n'), 200);
    const content = Buffer.from('built by attempt 1\n');
    const artifact = await old.api.post(`/api/v1/workspaces/${workspace}/artifacts`, {
      type: 'test',
      files: [declare('out.txt', content)],
    });
    assertStatus(artifact, 201);
    await waitForTask(cast.alice, task.id, 'pending', (t) => t.state === 'pending');
    const other = await enrolWorker(server, uniqueName('other'));
    const current = await other.claimOrFail(1);
    assert.equal(current.attempt, 2);

    assertError(await old.log('attempt 1 again\n'), 409, 'stale_attempt');
    assertError(await old.complete('success'), 409, 'stale_attempt');
    assertError(
      await old.api.put(fileUrl(artifact.body.id, 'out.txt'), content, {
        'content-type': 'application/octet-stream',
      }),
      409,
      'stale_attempt',
    );
    assertError(
      await old.api.post(`/api/v1/workspaces/${workspace}/artifacts`, { type: 'test' }),
      409,
      'stale_attempt',
    );
    assertError(await old.api.post(`/api/v1/tasks/${task.id}/release`), 409, 'stale_attempt');
    // The lost worker, back, is told to stop the attempt it still thinks it runs.
    const beat = await lost.heartbeat({ running: [{ task: task.id, attempt: 1 }] });
    assert.deepEqual(beat.cancel, [task.id]);

    await finish(current, 'failure');
    assertError(await old.complete('success'), 409, 'stale_attempt');
    assertError(await current.complete('success'), 409, 'stale_attempt');
    const done = await getTask(cast.alice, task.id);
    assert.deepEqual([done.state, done.result, done.attempt], ['completed', 'failure', 2]);
    assert.deepEqual(outcomes(done), [
      [1, 'lease expired'],
      [2, 'failure'],
    ]);
  });
});
