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
  resetScheduler,
  setWorkspaceLimit,
  submitTask,
  uniqueName,
  whyCodes,
  type SchedulerCast,
  type SimulatedWorker,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** Claims and finishes tasks one at a time until none is left; returns their ids in order. */
async function drain(worker: SimulatedWorker, limit: number): Promise<number[]> {
  const ids: number[] = [];
  for (let claimed = await worker.claim(); claimed !== undefined; claimed = await worker.claim()) {
    ids.push(claimed.id);
    await finish(claimed);
    assert.ok(ids.length <= limit, `more than ${limit} tasks were claimed: ${ids.join(', ')}`);
  }
  return ids;
}

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createSchedulerCast(server);
  });
  after(async () => {
    await server.close();
  });
  afterEach(async () => {
    await resetScheduler(server);
  });

  describe('score', () => {
    it('within a partition, the oldest task goes first', async () => {
      const workspace = await createTaskWorkspace(cast.alice, 'order');
      const ids: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        ids.push((await submitTask(cast.alice, workspace)).id);
      }
      const worker = await enrolWorker(server, uniqueName('order'));
      assert.deepEqual(await drain(worker, 5), ids);
    });

    it('a task submitted with an admin priority goes before older tasks', async () => {
      const workspace = await createTaskWorkspace(cast.alice, 'order', {
        members: { admin: 'writer' },
      });
      const older = await submitTask(cast.alice, workspace);
      const urgent = await submitTask(cast.admin, workspace, { priority: 10 });
      assert.equal(urgent.score, 10);
      const worker = await enrolWorker(server, uniqueName('order'));
      assert.deepEqual(await drain(worker, 2), [urgent.id, older.id]);
    });

    it("a user's negative priority puts a task behind newer ones", async () => {
      const workspace = await createTaskWorkspace(cast.alice, 'order');
      const later = await submitTask(cast.alice, workspace, { priority: -5 });
      const normal = await submitTask(cast.alice, workspace);
      assert.equal(later.score, -5);
      const worker = await enrolWorker(server, uniqueName('order'));
      assert.deepEqual(await drain(worker, 2), [normal.id, later.id]);
    });

    it('PATCH priority by an admin moves a task to the front of its partition', async () => {
      const workspace = await createTaskWorkspace(cast.alice, 'order');
      const ids: number[] = [];
      for (let i = 0; i < 3; i += 1) {
        ids.push((await submitTask(cast.alice, workspace)).id);
      }
      const raised = await cast.admin.patch(`/api/v1/tasks/${ids[2]}`, { priority: 50 });
      assertStatus(raised, 200);
      assert.equal(raised.body.priority, 50);
      assert.equal(raised.body.score, 50);
      const worker = await enrolWorker(server, uniqueName('order'));
      assert.deepEqual(await drain(worker, 3), [ids[2], ids[0], ids[1]]);
    });

    it("PATCH priority by an admin puts another partition's task first", async () => {
      const a = await createTaskWorkspace(cast.alice, 'order-a');
      const b = await createTaskWorkspace(cast.bob, 'order-b');
      const first = await submitTask(cast.alice, a);
      const second = await submitTask(cast.bob, b);
      const lowered = await cast.admin.patch(`/api/v1/tasks/${first.id}`, { priority: -50 });
      assertStatus(lowered, 200);
      assert.equal(lowered.body.score, -50);
      const worker = await enrolWorker(server, uniqueName('order'));
      assert.deepEqual(await drain(worker, 2), [second.id, first.id]);
      const third = await submitTask(cast.alice, a);
      const fourth = await submitTask(cast.bob, b);
      assertStatus(await cast.admin.patch(`/api/v1/tasks/${fourth.id}`, { priority: 50 }), 200);
      assert.deepEqual(await drain(worker, 2), [fourth.id, third.id]);
    });

    it('only an admin may change a priority', async () => {
      const workspace = await createTaskWorkspace(cast.alice, 'order');
      const task = await submitTask(cast.alice, workspace);
      assertError(
        await cast.alice.patch(`/api/v1/tasks/${task.id}`, { priority: 5 }),
        403,
        'forbidden',
      );
      assertError(
        await cast.alice.patch(`/api/v1/tasks/${task.id}`, { priority: -5 }),
        403,
        'forbidden',
      );
      assertError(
        await cast.bob.patch(`/api/v1/tasks/${task.id}`, { priority: 5 }),
        404,
        'not_found',
      );
      const shown = await cast.alice.get(`/api/v1/tasks/${task.id}`);
      assert.equal(shown.body.priority, 0);
    });
  });

  describe('per-workspace limit on running tasks', () => {
    it("a limited workspace runs one task at a time while another workspace's task runs", async () => {
      const limited = await createTaskWorkspace(cast.alice, 'limited');
      const other = await createTaskWorkspace(cast.bob, 'unlimited');
      await setWorkspaceLimit(server, limited, 1);
      const first = await submitTask(cast.alice, limited);
      const second = await submitTask(cast.alice, limited);
      const worker = await enrolWorker(server, uniqueName('limit'));
      const running = await worker.claimOrFail(1);
      assert.equal(running.id, first.id);
      const otherTask = await submitTask(cast.bob, other);
      const next = await worker.claimOrFail(1);
      assert.equal(next.id, otherTask.id, 'the other workspace is not limited');
      assert.equal(await worker.claim(0.3), undefined, 'the limited workspace is at its limit');
      await expectTask(cast.alice, second.id, { state: 'pending' });
      assert.deepEqual(await whyCodes(cast.alice, second.id), ['workspace-limit']);
      await finish(running);
      const last = await worker.claimOrFail(1);
      assert.equal(last.id, second.id, 'the limit frees up when the running task ends');
      await finish(last);
      await finish(next);
    });

    it('a limit of two lets two run, across workers and submitters', async () => {
      const limited = await createTaskWorkspace(cast.alice, 'limited', {
        members: { bob: 'uploader' },
      });
      await setWorkspaceLimit(server, limited, 2);
      const tasks = [
        await submitTask(cast.alice, limited),
        await submitTask(cast.bob, limited),
        await submitTask(cast.alice, limited),
      ];
      const workers = [
        await enrolWorker(server, uniqueName('limit')),
        await enrolWorker(server, uniqueName('limit')),
        await enrolWorker(server, uniqueName('limit')),
      ];
      const claimed = [await workers[0]!.claimOrFail(1), await workers[1]!.claimOrFail(1)];
      assert.equal(await workers[2]!.claim(0.3), undefined);
      const waiting = tasks.find((t) => !claimed.some((c) => c.id === t.id));
      assert.ok(waiting);
      await expectTask(cast.alice, waiting.id, { state: 'pending' });
      await finish(claimed[0]!);
      const third = await workers[2]!.claimOrFail(1);
      assert.equal(third.id, waiting.id);
      await finish(third);
      await finish(claimed[1]!);
    });
  });
});
