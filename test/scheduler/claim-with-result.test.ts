import assert from 'node:assert/strict';
import { after, afterEach, before, it } from 'node:test';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  createSchedulerCast,
  createTaskWorkspace,
  enrolWorker,
  getTask,
  resetScheduler,
  submitTask,
  uniqueName,
  type SchedulerCast,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * A worker reports the result of its attempt with its next claim (`completed`
 * in the claim's body): one request a task. The result goes through the same
 * checks as `POST /tasks/{id}/complete` with the task token.
 */
forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  let workspace: string;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createSchedulerCast(server);
    workspace = await createTaskWorkspace(cast.alice, 'claim-result');
  });
  after(async () => {
    await server.close();
  });
  afterEach(async () => {
    await resetScheduler(server);
  });

  it('records the result, then hands out the next task in the same answer', async () => {
    const first = await submitTask(cast.alice, workspace);
    const second = await submitTask(cast.alice, workspace);
    const worker = await enrolWorker(server, uniqueName('both'));
    const claimed = await worker.claimOrFail(1);
    assert.equal(claimed.id, first.id);
    const next = await worker.api.post('/api/v1/worker/claim', {
      wait: 1,
      completed: {
        task: claimed.id,
        attempt: claimed.attempt,
        result: 'failure',
        message: 'it broke',
      },
    });
    assertStatus(next, 200);
    assert.equal(next.body.task, second.id);
    const ended = await getTask(cast.alice, first.id);
    assert.equal(ended.state, 'completed');
    assert.equal(ended.result, 'failure');
    assert.equal(ended.message, 'it broke');
    // The ended attempt's task token is revoked, as a completion by token revokes it.
    assertError(await claimed.complete('success'), 409, 'stale_attempt');
  });

  it('answers at once when no task is waiting, without the long poll', async () => {
    await submitTask(cast.alice, workspace);
    const worker = await enrolWorker(server, uniqueName('idle'));
    const claimed = await worker.claimOrFail(1);
    // A wait of 60 s would outlast the test's timeout if the claim waited.
    const next = await worker.api.post('/api/v1/worker/claim', {
      wait: 60,
      completed: { task: claimed.id, attempt: claimed.attempt, result: 'success' },
    });
    assertStatus(next, 204);
    const ended = await getTask(cast.alice, claimed.id);
    assert.equal(ended.result, 'success');
  });

  it("refuses another worker's attempt or a stale one, and claims nothing", async () => {
    const task = await submitTask(cast.alice, workspace);
    const spare = await submitTask(cast.alice, workspace);
    const runner = await enrolWorker(server, uniqueName('runner'));
    const intruder = await enrolWorker(server, uniqueName('intruder'));
    const claimed = await runner.claimOrFail(1);
    assert.equal(claimed.id, task.id);
    const completed = { task: claimed.id, attempt: claimed.attempt, result: 'success' };

    assertError(
      await intruder.api.post('/api/v1/worker/claim', { wait: 0, completed }),
      409,
      'stale_attempt',
    );
    assertError(
      await runner.api.post('/api/v1/worker/claim', {
        wait: 0,
        completed: { ...completed, attempt: claimed.attempt + 1 },
      }),
      409,
      'stale_attempt',
    );
    assert.equal((await getTask(cast.alice, task.id)).state, 'running');
    assert.equal((await getTask(cast.alice, spare.id)).state, 'pending', 'nothing was claimed');

    const next = await runner.api.post('/api/v1/worker/claim', { wait: 1, completed });
    assertStatus(next, 200);
    assert.equal(next.body.task, spare.id);
    assertError(
      await runner.api.post('/api/v1/worker/claim', { wait: 0, completed }),
      409,
      'stale_attempt',
    );
  });

  it('refuses a malformed result before anything changes', async () => {
    const task = await submitTask(cast.alice, workspace);
    const worker = await enrolWorker(server, uniqueName('malformed'));
    const claimed = await worker.claimOrFail(1);
    for (const completed of [
      { task: claimed.id, attempt: claimed.attempt, result: 'done' },
      { task: claimed.id, result: 'success' },
      { task: claimed.id, attempt: claimed.attempt, result: 'success', extra: 1 },
    ]) {
      assertError(
        await worker.api.post('/api/v1/worker/claim', { wait: 0, completed }),
        400,
        'validation_failed',
      );
    }
    assert.equal((await getTask(cast.alice, task.id)).state, 'running');
  });
});
