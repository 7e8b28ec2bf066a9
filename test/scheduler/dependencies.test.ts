import assert from 'node:assert/strict';
import { after, afterEach, before, it } from 'node:test';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  createSchedulerCast,
  createTaskWorkspace,
  enrolWorker,
  expectTask,
  finish,
  resetScheduler,
  submitTask,
  uniqueName,
  type SchedulerCast,
  type SimulatedWorker,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  let workspace: string;
  let worker: SimulatedWorker;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createSchedulerCast(server);
    workspace = await createTaskWorkspace(cast.alice, 'deps');
  });
  after(async () => {
    await server.close();
  });
  afterEach(async () => {
    await resetScheduler(server);
  });

  /** A chain: `a`, then `b` depending on `a`, then `c` depending on `b`. */
  async function submitChain(): Promise<{ a: number; b: number; c: number }> {
    const a = await submitTask(cast.alice, workspace);
    const b = await submitTask(cast.alice, workspace, { depends_on: [a.id] });
    const c = await submitTask(cast.alice, workspace, { depends_on: [b.id] });
    assert.equal(b.state, 'blocked');
    assert.deepEqual(b.depends_on, [a.id]);
    assert.equal(c.state, 'blocked');
    return { a: a.id, b: b.id, c: c.id };
  }

  /** Claims the next task, which must be `id`. */
  async function claimExactly(id: number) {
    worker = await enrolWorker(server, uniqueName('deps'));
    const claimed = await worker.claimOrFail(1);
    assert.equal(claimed.id, id);
    return claimed;
  }

  it('a task waits blocked until every dependency succeeded, then is pending and runs', async () => {
    const a = await submitTask(cast.alice, workspace);
    const b = await submitTask(cast.alice, workspace);
    const c = await submitTask(cast.alice, workspace, { depends_on: [a.id, b.id] });
    assert.equal(c.state, 'blocked');
    worker = await enrolWorker(server, uniqueName('deps'));
    const first = await worker.claimOrFail(1);
    const second = await worker.claimOrFail(1);
    assert.deepEqual([first.id, second.id], [a.id, b.id]);
    assert.equal(await worker.claim(0.3), undefined, 'a blocked task is never claimed');
    await finish(first);
    await expectTask(cast.alice, c.id, { state: 'blocked' });
    assert.equal(await worker.claim(), undefined);
    await finish(second);
    await expectTask(cast.alice, c.id, { state: 'pending' });
    const third = await worker.claimOrFail(1);
    assert.equal(third.id, c.id);
    await finish(third);
    await expectTask(cast.alice, c.id, { state: 'completed', result: 'success' });
  });

  it('a task submitted while its dependency runs is released when that one completes', async () => {
    // The dependency was claimed before anything depended on it: its ending
    // must still find the dependent (it ends alone only when none waits).
    const a = await submitTask(cast.alice, workspace);
    const running = await claimExactly(a.id);
    const b = await submitTask(cast.alice, workspace, { depends_on: [a.id] });
    assert.equal(b.state, 'blocked');
    await finish(running);
    await expectTask(cast.alice, b.id, { state: 'pending' });
    await finish(await worker.claimOrFail(1));
    await expectTask(cast.alice, b.id, { state: 'completed', result: 'success' });
  });

  for (const result of ['failure', 'error'] as const) {
    it(`a dependency's ${result} ends its dependents, transitively, as blocked-failed`, async () => {
      const chain = await submitChain();
      const other = await submitTask(cast.alice, workspace);
      const claimed = await claimExactly(chain.a);
      await finish(claimed, result);
      await expectTask(cast.alice, chain.a, { state: 'completed', result, reason: null });
      for (const id of [chain.b, chain.c]) {
        await expectTask(cast.alice, id, {
          state: 'completed',
          result: 'failure',
          reason: 'blocked-failed',
        });
      }
      await expectTask(cast.alice, other.id, { state: 'pending' });
    });
  }

  it('cancelling a dependency cancels its dependents, transitively', async () => {
    const chain = await submitChain();
    assertStatus(await cast.alice.post(`/api/v1/tasks/${chain.a}/cancel`), 200);
    await expectTask(cast.alice, chain.a, { state: 'cancelled', reason: 'cancelled' });
    for (const id of [chain.b, chain.c]) {
      await expectTask(cast.alice, id, { state: 'cancelled', reason: 'dependency-cancelled' });
    }
  });

  it('cancelling a running dependency cancels its dependents when it ends', async () => {
    const chain = await submitChain();
    const claimed = await claimExactly(chain.a);
    assertStatus(await cast.alice.post(`/api/v1/tasks/${chain.a}/cancel`), 200);
    await expectTask(cast.alice, chain.b, { state: 'blocked' });
    await finish(claimed, 'failure');
    await expectTask(cast.alice, chain.a, { state: 'cancelled' });
    for (const id of [chain.b, chain.c]) {
      await expectTask(cast.alice, id, { state: 'cancelled', reason: 'dependency-cancelled' });
    }
  });

  it('a task submitted depending on a failed task ends at once as blocked-failed', async () => {
    const failed = await submitTask(cast.alice, workspace);
    await finish(await claimExactly(failed.id), 'failure');
    const done = await submitTask(cast.alice, workspace);
    await finish(await claimExactly(done.id));
    const late = await submitTask(cast.alice, workspace, { depends_on: [done.id, failed.id] });
    assert.deepEqual(
      { state: late.state, result: late.result, reason: late.reason },
      { state: 'completed', result: 'failure', reason: 'blocked-failed' },
    );
    assert.equal(await worker.claim(0.3), undefined);
  });

  it('a task submitted depending on a cancelled task is cancelled at once', async () => {
    const cancelled = await submitTask(cast.alice, workspace);
    assertStatus(await cast.alice.post(`/api/v1/tasks/${cancelled.id}/cancel`), 200);
    const late = await submitTask(cast.alice, workspace, { depends_on: [cancelled.id] });
    assert.deepEqual(
      { state: late.state, result: late.result, reason: late.reason },
      { state: 'cancelled', result: null, reason: 'dependency-cancelled' },
    );
    // Retrying the cancelled task brings it back, as for a task cancelled later.
    assertStatus(await cast.alice.post(`/api/v1/tasks/${cancelled.id}/retry`), 200);
    await expectTask(cast.alice, late.id, { state: 'blocked', reason: null });
  });

  it('a task submitted depending on succeeded tasks is pending at once', async () => {
    const done = await submitTask(cast.alice, workspace);
    await finish(await claimExactly(done.id));
    const next = await submitTask(cast.alice, workspace, { depends_on: [done.id] });
    assert.equal(next.state, 'pending');
  });

  it('retrying the failed dependency brings its dependents back to blocked, then they run', async () => {
    const chain = await submitChain();
    await finish(await claimExactly(chain.a), 'failure');
    assertError(await cast.alice.post(`/api/v1/tasks/${chain.b}/retry`), 409, 'conflict');
    const retried = await cast.alice.post(`/api/v1/tasks/${chain.a}/retry`);
    assertStatus(retried, 200);
    assert.equal(retried.body.state, 'pending');
    for (const id of [chain.b, chain.c]) {
      await expectTask(cast.alice, id, { state: 'blocked', result: null, reason: null });
    }
    for (const id of [chain.a, chain.b, chain.c]) {
      const claimed = await worker.claimOrFail(1);
      assert.equal(claimed.id, id);
      await finish(claimed);
    }
    for (const id of [chain.a, chain.b, chain.c]) {
      await expectTask(cast.alice, id, { state: 'completed', result: 'success' });
    }
  });

  it('retrying a cancelled dependency brings its dependents back to blocked', async () => {
    const chain = await submitChain();
    assertStatus(await cast.alice.post(`/api/v1/tasks/${chain.a}/cancel`), 200);
    assertStatus(await cast.alice.post(`/api/v1/tasks/${chain.a}/retry`), 200);
    await expectTask(cast.alice, chain.a, { state: 'pending' });
    await expectTask(cast.alice, chain.b, { state: 'blocked', reason: null });
    await expectTask(cast.alice, chain.c, { state: 'blocked', reason: null });
  });

  it('retrying one of two failed dependencies leaves the dependent failed', async () => {
    const a = await submitTask(cast.alice, workspace);
    const b = await submitTask(cast.alice, workspace);
    const c = await submitTask(cast.alice, workspace, { depends_on: [a.id, b.id] });
    const d = await submitTask(cast.alice, workspace, { depends_on: [c.id] });
    worker = await enrolWorker(server, uniqueName('deps'));
    const first = await worker.claimOrFail(1);
    const second = await worker.claimOrFail(1);
    await finish(first, 'failure');
    await finish(second, 'failure');
    assertStatus(await cast.alice.post(`/api/v1/tasks/${a.id}/retry`), 200);
    // c still depends on b, which failed: waiting for it would be waiting forever.
    for (const id of [c.id, d.id]) {
      await expectTask(cast.alice, id, {
        state: 'completed',
        result: 'failure',
        reason: 'blocked-failed',
      });
    }
    await finish(await worker.claimOrFail(1));
    assertStatus(await cast.alice.post(`/api/v1/tasks/${b.id}/retry`), 200);
    await expectTask(cast.alice, c.id, { state: 'blocked' });
    await expectTask(cast.alice, d.id, { state: 'blocked' });
    await finish(await worker.claimOrFail(1));
    for (const id of [c.id, d.id]) {
      const claimed = await worker.claimOrFail(1);
      assert.equal(claimed.id, id);
      await finish(claimed);
    }
  });
});
