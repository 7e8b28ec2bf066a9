import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  createSchedulerCast,
  createTaskWorkspace,
  enrolWorker,
  expectTask,
  finish,
  getTask,
  resetScheduler,
  submitTask,
  uniqueName,
  type ClaimedTask,
  type SchedulerCast,
  type SimulatedWorker,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** The states a task can be put in for a test, and how to get there. */
const states = [
  'blocked',
  'pending',
  'running',
  'completed-success',
  'completed-failure',
  'cancelled',
] as const;
type Start = (typeof states)[number];

/** What cancel leaves a task of each state as. */
const afterCancel: Record<Start, { state: string; result: string | null }> = {
  blocked: { state: 'cancelled', result: null },
  pending: { state: 'cancelled', result: null },
  // Running: marked, still running until its worker stops it.
  running: { state: 'running', result: null },
  'completed-success': { state: 'completed', result: 'success' },
  'completed-failure': { state: 'completed', result: 'failure' },
  cancelled: { state: 'cancelled', result: null },
};

/** What retry leaves a task of each state as. */
const afterRetry: Record<Start, { state: string; result: string | null }> = {
  blocked: { state: 'blocked', result: null },
  pending: { state: 'pending', result: null },
  running: { state: 'pending', result: null },
  'completed-success': { state: 'pending', result: null },
  'completed-failure': { state: 'pending', result: null },
  cancelled: { state: 'pending', result: null },
};

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  let workspace: string;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createSchedulerCast(server);
    workspace = await createTaskWorkspace(cast.alice, 'cancel', { members: { bob: 'viewer' } });
  });
  after(async () => {
    await server.close();
  });
  afterEach(async () => {
    await resetScheduler(server);
  });

  /** A task in state `start`, with the worker that ran it (or runs it) and its claim. */
  async function taskIn(
    start: Start,
  ): Promise<{ id: number; worker: SimulatedWorker; claimed?: ClaimedTask }> {
    const worker = await enrolWorker(server, uniqueName('cancel'));
    if (start === 'blocked') {
      const dependency = await submitTask(cast.alice, workspace);
      const task = await submitTask(cast.alice, workspace, { depends_on: [dependency.id] });
      // The worker holds the dependency, so that only the task under test stays queued.
      return { id: task.id, worker, claimed: await worker.claimOrFail(1) };
    }
    const task = await submitTask(cast.alice, workspace);
    if (start === 'pending') {
      return { id: task.id, worker };
    }
    if (start === 'cancelled') {
      assertStatus(await cast.alice.post(`/api/v1/tasks/${task.id}/cancel`), 200);
      return { id: task.id, worker };
    }
    const claimed = await worker.claimOrFail(1);
    assert.equal(claimed.id, task.id);
    if (start === 'running') {
      return { id: task.id, worker, claimed };
    }
    await finish(claimed, start === 'completed-success' ? 'success' : 'failure');
    return { id: task.id, worker };
  }

  describe('cancel', () => {
    for (const start of states) {
      const ending = start === 'running' ? 'stays running, asked to stop' : 'ends';
      it(`a ${start} task ${ending} as ${afterCancel[start].state}`, async () => {
        const { id } = await taskIn(start);
        const before = await getTask(cast.alice, id);
        const response = await cast.alice.post(`/api/v1/tasks/${id}/cancel`);
        assertStatus(response, 200);
        assert.deepEqual(
          { state: response.body.state, result: response.body.result },
          afterCancel[start],
        );
        assert.equal(response.body.cancel_requested, start === 'running');
        if (start === 'completed-success' || start === 'completed-failure') {
          assert.equal(response.body.completed_at, before.completed_at, 'left as it was');
        }
      });
    }

    it('a running task: the worker learns it from its heartbeat and its log post, and its failure ends it cancelled', async () => {
      const { id, worker, claimed } = await taskIn('running');
      assert.deepEqual((await worker.heartbeat()).cancel, []);
      assert.deepEqual((await claimed!.log('working\n')).body, { cancel: false });
      assertStatus(await cast.alice.post(`/api/v1/tasks/${id}/cancel`), 200);
      const beat = await worker.heartbeat({ running: [{ task: id, attempt: claimed!.attempt }] });
      assert.deepEqual(beat.cancel, [id]);
      const logged = await claimed!.log('stopping\n');
      assertStatus(logged, 200);
      assert.deepEqual(logged.body, { cancel: true });
      assertStatus(await claimed!.complete('failure', { message: 'killed' }), 204);
      const task = await getTask(cast.alice, id);
      assert.deepEqual(
        { state: task.state, result: task.result, reason: task.reason },
        { state: 'cancelled', result: null, reason: 'cancelled' },
      );
      assert.equal(task.cancel_requested, false);
      assert.deepEqual(
        (task.attempts as { outcome: string }[]).map((a) => a.outcome),
        ['cancelled'],
      );
      assert.deepEqual((await worker.heartbeat()).cancel, [], 'nothing left to stop');
    });

    it('a running task that succeeds despite the cancel ends completed', async () => {
      const { id, claimed } = await taskIn('running');
      assertStatus(await cast.alice.post(`/api/v1/tasks/${id}/cancel`), 200);
      await finish(claimed!, 'success');
      await expectTask(cast.alice, id, { state: 'completed', result: 'success' });
    });

    it('a running task handed back after a cancel ends cancelled', async () => {
      const { id, claimed } = await taskIn('running');
      assertStatus(await cast.alice.post(`/api/v1/tasks/${id}/cancel`), 200);
      assertStatus(await claimed!.api.post(`/api/v1/tasks/${id}/release`), 204);
      await expectTask(cast.alice, id, { state: 'cancelled', result: null });
    });

    it('a viewer may not cancel, and a stranger sees no task', async () => {
      const { id } = await taskIn('pending');
      assertError(await cast.bob.post(`/api/v1/tasks/${id}/cancel`), 403, 'forbidden');
      const stranger = await createTaskWorkspace(cast.bob, 'stranger');
      const hidden = await submitTask(cast.bob, stranger);
      assertError(await cast.alice.post(`/api/v1/tasks/${hidden.id}/cancel`), 404, 'not_found');
      await expectTask(cast.alice, id, { state: 'pending' });
    });
  });

  describe('retry', () => {
    for (const start of states) {
      const title =
        start === 'blocked' || start === 'pending'
          ? `a ${start} task stays ${start}`
          : `a ${start} task is ${afterRetry[start].state} again, then runs`;
      it(title, async () => {
        const { id, worker, claimed } = await taskIn(start);
        const response = await cast.alice.post(`/api/v1/tasks/${id}/retry`);
        assertStatus(response, 200);
        assert.deepEqual(
          { state: response.body.state, result: response.body.result },
          afterRetry[start],
        );
        assert.equal(response.body.reason, null);
        assert.equal(response.body.cancel_requested, false);
        if (start === 'blocked') {
          return;
        }
        // Whatever it was, it runs again: a later attempt when it ran before.
        const again = await worker.claimOrFail(1);
        assert.equal(again.id, id);
        const ranBefore = claimed !== undefined || start.startsWith('completed');
        assert.equal(again.attempt, ranBefore ? 2 : 1);
        await finish(again);
        await expectTask(cast.alice, id, { state: 'completed', result: 'success' });
      });
    }

    it("a running task retried: its attempt ends 'retried' and its old token is refused", async () => {
      const { id, claimed } = await taskIn('running');
      assertStatus(await cast.alice.post(`/api/v1/tasks/${id}/cancel`), 200);
      assertStatus(await cast.alice.post(`/api/v1/tasks/${id}/retry`), 200);
      const task = await getTask(cast.alice, id);
      assert.equal(task.state, 'pending');
      assert.equal(task.cancel_requested, false, 'a retry overrides the cancel');
      assert.deepEqual(
        (task.attempts as { attempt: number; outcome: string }[]).map((a) => [
          a.attempt,
          a.outcome,
        ]),
        [[1, 'retried']],
      );
      assertError(await claimed!.log('late\n'), 409, 'stale_attempt');
      assertError(await claimed!.complete('success'), 409, 'stale_attempt');
      await expectTask(cast.alice, id, { state: 'pending', result: null });
    });

    it('a retried task loses its result, output, log and timestamps', async () => {
      const { id, worker } = await taskIn('pending');
      const claimed = await worker.claimOrFail(1);
      assertStatus(await claimed.log('first try\n'), 200);
      assertStatus(await claimed.complete('failure', { output: { x: 1 }, message: 'no' }), 204);
      const failed = await getTask(cast.alice, id);
      assert.notEqual(failed.log_artifact, null);
      const retried = (await cast.alice.post(`/api/v1/tasks/${id}/retry`)).body;
      assert.deepEqual(
        [retried.result, retried.message, retried.output, retried.log_artifact],
        [null, null, null, null],
      );
      assert.equal(retried.completed_at, null);
      assert.equal(retried.started_at, null);
    });
  });
});
