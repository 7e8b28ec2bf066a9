import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { createUploadedArtifact } from '../helpers/artifacts.ts';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  createSchedulerCast,
  createTaskWorkspace,
  enrolWorker,
  finish,
  resetScheduler,
  submitTask,
  uniqueName,
  waitForTask,
  type SchedulerCast,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  let workspace: string;
  let hidden: string;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createSchedulerCast(server);
    workspace = await createTaskWorkspace(cast.alice, 'submit', { members: { bob: 'viewer' } });
    hidden = await createTaskWorkspace(cast.bob, 'submit-hidden');
  });
  after(async () => {
    await server.close();
  });
  afterEach(async () => {
    await resetScheduler(server);
  });

  /** Submits as alice; returns the raw answer. */
  const submit = (body: object, as = cast.alice) =>
    as.post(`/api/v1/workspaces/${workspace}/tasks`, body);

  /** The ids of the workspace's tasks, to check a refused submission left none. */
  async function taskIds(): Promise<number[]> {
    const listed = await cast.alice.get(`/api/v1/workspaces/${workspace}/tasks`);
    assertStatus(listed, 200);
    return (listed.body.items as { id: number }[]).map((t) => t.id);
  }

  describe('validation', () => {
    it('refuses an unknown task type', async () => {
      const response = await submit({ type: 'no-such-type' });
      assertError(response, 400, 'unknown_task_type');
      assert.match(response.body.error.message, /noop/, 'it names the known types');
    });

    it('refuses input that does not fit the type', async () => {
      const bad = [
        { type: 'noop', input: { result: 'maybe' } },
        { type: 'noop', input: { unexpected: true } },
        { type: 'shell', input: {} },
        { type: 'shell', input: { command: '' } },
        { type: 'shell', input: { command: 'true', inputs: ['one'] } },
        { type: 'shell', input: { command: 'true', env: { 'NOT A NAME': 'x' } } },
        { type: 'server-noop', input: { anything: 1 } },
      ];
      const before = await taskIds();
      for (const body of bad) {
        assertError(await submit(body), 400, 'invalid_task_input');
      }
      assert.deepEqual(await taskIds(), before);
    });

    it('refuses a malformed request', async () => {
      for (const body of [
        { type: 'Not A Type' },
        { type: 'noop', requirements: { architecture: 'AMD64' } },
        { type: 'noop', requirements: { min_memory: -1 } },
        { type: 'noop', time_limit: 0 },
        { type: 'noop', extra: true },
      ]) {
        const response = await submit(body);
        assert.equal(response.status, 400, JSON.stringify(body));
      }
    });

    it('refuses a priority above 0 from a non-admin, and takes one from an admin', async () => {
      const before = await taskIds();
      assertError(await submit({ type: 'noop', priority: 1 }), 403, 'forbidden');
      assert.deepEqual(await taskIds(), before);
      assert.equal((await submitTask(cast.alice, workspace, { priority: -3 })).priority, -3);
      assert.equal((await submitTask(cast.admin, workspace, { priority: 7 })).score, 7);
    });

    it('refuses a dependency the submitter cannot see, or that does not exist, as 404', async () => {
      const invisible = await submitTask(cast.bob, hidden);
      const before = await taskIds();
      assertError(await submit({ type: 'noop', depends_on: [invisible.id] }), 404, 'not_found');
      assertError(await submit({ type: 'noop', depends_on: [999_999] }), 404, 'not_found');
      assert.deepEqual(await taskIds(), before);
    });

    it('refuses an input artifact the submitter cannot see, or that does not exist, as 404', async () => {
      const invisible = await createUploadedArtifact(cast.bob, hidden, 'x', Buffer.from('x'));
      const visible = await createUploadedArtifact(cast.alice, workspace, 'y', Buffer.from('y'));
      const before = await taskIds();
      for (const inputs of [[invisible], [visible, invisible], [999_999]]) {
        assertError(
          await submit({ type: 'shell', input: { command: 'true', inputs } }),
          404,
          'not_found',
        );
      }
      assert.deepEqual(await taskIds(), before);
      const task = await submitTask(cast.alice, workspace, {
        type: 'shell',
        input: { command: 'true', inputs: [visible] },
      });
      assert.deepEqual(task.inputs, [visible]);
    });

    it('refuses submitters without upload rights in the workspace', async () => {
      assertError(await submit({ type: 'noop' }, cast.bob), 403, 'forbidden');
      assertError(
        await cast.alice.post(`/api/v1/workspaces/${hidden}/tasks`, { type: 'noop' }),
        404,
        'not_found',
      );
    });
  });

  describe('server-side tasks', () => {
    it('a server-noop task completes on the server with no worker', async () => {
      const task = await submitTask(cast.alice, workspace, { type: 'server-noop' });
      assert.equal(task.runs_on, 'server');
      const done = await waitForTask(
        cast.alice,
        task.id,
        'completed',
        (t) => t.state === 'completed',
      );
      assert.equal(done.result, 'success');
      assert.equal(done.worker, null);
      assert.equal(done.attempts.length, 1);
      assert.match(done.attempts[0].worker, /^server:/);
      const log = await cast.alice.get(`/api/v1/tasks/${task.id}/log`);
      assert.equal(log.raw.toString('utf8'), 'server-noop: nothing to do\n');
    });

    it('is never handed to a worker, even one that waits for work', async () => {
      const worker = await enrolWorker(server, uniqueName('server'));
      // A long wait: six submissions on a loaded machine can take seconds.
      const waiting = worker.claim(10);
      const tasks = [];
      for (let i = 0; i < 5; i += 1) {
        tasks.push(await submitTask(cast.alice, workspace, { type: 'server-noop' }));
      }
      const workerTask = await submitTask(cast.alice, workspace);
      const claimed = await waiting;
      assert.equal(claimed?.id, workerTask.id, 'the worker gets the worker task and no other');
      await finish(claimed!);
      for (const task of tasks) {
        const done = await waitForTask(
          cast.alice,
          task.id,
          'ended',
          (t) => t.state !== 'pending' && t.state !== 'running',
        );
        assert.equal(done.state, 'completed');
        assert.match(done.attempts[0].worker, /^server:/);
      }
      assert.equal(await worker.claim(0.3), undefined);
    });
  });
});
