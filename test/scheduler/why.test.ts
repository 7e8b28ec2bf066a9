import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  GiB,
  createSchedulerCast,
  createTaskWorkspace,
  enrolWorker,
  finish,
  resetScheduler,
  setWorkspaceLimit,
  submitTask,
  uniqueName,
  whyCodes,
  type SchedulerCast,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** For each requirement no online plain worker meets, the reason `why` must give. */
const unmet: readonly { code: string; requirements: object }[] = [
  { code: 'no-worker-for-architecture', requirements: { architecture: 'arm64' } },
  {
    code: 'no-worker-for-host-architecture',
    requirements: { architecture: 'amd64', host_architecture: 'arm64' },
  },
  { code: 'no-worker-for-host-architecture', requirements: { host_architecture: 'riscv64' } },
  { code: 'no-worker-with-executor', requirements: { executor: 'unshare' } },
  { code: 'no-worker-with-memory', requirements: { min_memory: 64 * GiB } },
  { code: 'no-worker-with-disk', requirements: { min_disk: 1024 * GiB } },
  { code: 'no-worker-with-tags', requirements: { tags: ['gpu'] } },
];

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  let workspace: string;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createSchedulerCast(server);
    workspace = await createTaskWorkspace(cast.alice, 'why', { members: { bob: 'viewer' } });
  });
  after(async () => {
    await server.close();
  });
  afterEach(async () => {
    await resetScheduler(server);
  });

  it('no-worker-online: no worker is enrolled, or the only one is disabled', async () => {
    const task = await submitTask(cast.alice, workspace);
    assert.deepEqual(await whyCodes(cast.alice, task.id), ['no-worker-online']);
    const worker = await enrolWorker(server, uniqueName('why'));
    assert.deepEqual(await whyCodes(cast.alice, task.id), ['queued']);
    assertStatus(await cast.admin.patch(`/api/v1/workers/${worker.name}`, { enabled: false }), 200);
    assert.deepEqual(await whyCodes(cast.alice, task.id), ['no-worker-online']);
  });

  describe('a requirement no online worker meets', () => {
    for (const { code, requirements } of unmet) {
      it(`${code}: ${JSON.stringify(requirements)}`, async () => {
        await enrolWorker(server, uniqueName('why'));
        const task = await submitTask(cast.alice, workspace, { requirements });
        assert.deepEqual(await whyCodes(cast.alice, task.id), [code]);
        // A viewer may ask too.
        assert.deepEqual(await whyCodes(cast.bob, task.id), [code]);
      });
    }

    it('no-worker-with-disk counts the free disk of the last heartbeat', async () => {
      const worker = await enrolWorker(server, uniqueName('why'), { disk: 500 * GiB });
      const task = await submitTask(cast.alice, workspace, {
        requirements: { min_disk: 10 * GiB },
      });
      assert.deepEqual(await whyCodes(cast.alice, task.id), ['queued']);
      await worker.heartbeat({ free_disk: 2 * GiB });
      assert.deepEqual(await whyCodes(cast.alice, task.id), ['no-worker-with-disk']);
    });

    it('names the first requirement that the workers meeting the ones before it lack', async () => {
      await enrolWorker(server, uniqueName('small-arm'), {
        architectures: ['arm64'],
        memory: 2 * GiB,
      });
      await enrolWorker(server, uniqueName('big-amd'), { memory: 64 * GiB, tags: ['gpu'] });
      const memory = await submitTask(cast.alice, workspace, {
        requirements: { architecture: 'arm64', min_memory: 16 * GiB },
      });
      assert.deepEqual(await whyCodes(cast.alice, memory.id), ['no-worker-with-memory']);
      const tags = await submitTask(cast.alice, workspace, {
        requirements: { architecture: 'arm64', tags: ['gpu'] },
      });
      assert.deepEqual(await whyCodes(cast.alice, tags.id), ['no-worker-with-tags']);
    });
  });

  it('workspace-limit: the workspace runs as many tasks as it may', async () => {
    await setWorkspaceLimit(server, workspace, 1);
    try {
      const worker = await enrolWorker(server, uniqueName('why'));
      await submitTask(cast.alice, workspace);
      const running = await worker.claimOrFail(1);
      const waiting = await submitTask(cast.alice, workspace);
      assert.deepEqual(await whyCodes(cast.alice, waiting.id), ['workspace-limit']);
      await finish(running);
      assert.deepEqual(await whyCodes(cast.alice, waiting.id), ['queued']);
    } finally {
      await setWorkspaceLimit(server, workspace, null);
    }
  });

  it('waiting-on-task: one reason per dependency that has not succeeded yet', async () => {
    const worker = await enrolWorker(server, uniqueName('why'));
    const first = await submitTask(cast.alice, workspace);
    const second = await submitTask(cast.alice, workspace);
    const blocked = await submitTask(cast.alice, workspace, {
      depends_on: [first.id, second.id],
    });
    const why = await cast.alice.get(`/api/v1/tasks/${blocked.id}/why`);
    assertStatus(why, 200);
    assert.equal(why.body.state, 'blocked');
    assert.deepEqual(
      (why.body.reasons as { code: string }[]).map((r) => r.code),
      ['waiting-on-task', 'waiting-on-task'],
    );
    assert.match(why.body.reasons[0].message, new RegExp(`task ${first.id}\\b`));
    assert.match(why.body.reasons[1].message, new RegExp(`task ${second.id}\\b`));
    const claimed = await worker.claimOrFail(1);
    assert.equal(claimed.id, first.id);
    await finish(claimed);
    const after = await cast.alice.get(`/api/v1/tasks/${blocked.id}/why`);
    assert.deepEqual(
      (after.body.reasons as { code: string }[]).map((r) => r.code),
      ['waiting-on-task'],
    );
    assert.match(after.body.reasons[0].message, new RegExp(`task ${second.id}\\b`));
  });

  it('queued: a task a worker fits waits for its turn, with the tasks ahead counted', async () => {
    await enrolWorker(server, uniqueName('why'));
    const first = await submitTask(cast.alice, workspace);
    await submitTask(cast.alice, workspace);
    const third = await submitTask(cast.alice, workspace);
    const head = await cast.alice.get(`/api/v1/tasks/${first.id}/why`);
    assert.deepEqual(head.body.reasons, [
      {
        code: 'queued',
        message: 'next in the queue: waiting for a fitting worker to ask for work',
      },
    ]);
    const last = await cast.alice.get(`/api/v1/tasks/${third.id}/why`);
    assert.equal(last.body.reasons[0].code, 'queued');
    assert.match(last.body.reasons[0].message, /\b2 pending tasks/);
  });

  it('a running or finished task says what it is doing or how it ended', async () => {
    const worker = await enrolWorker(server, uniqueName('why'));
    const task = await submitTask(cast.alice, workspace);
    const claimed = await worker.claimOrFail(1);
    const running = await cast.alice.get(`/api/v1/tasks/${task.id}/why`);
    assert.deepEqual(
      (running.body.reasons as { code: string }[]).map((r) => r.code),
      ['running'],
    );
    assert.match(running.body.reasons[0].message, new RegExp(worker.name));
    await finish(claimed, 'failure');
    assert.deepEqual(await whyCodes(cast.alice, task.id), ['completed']);
  });

  it("a stranger gets 404 for a private workspace's task", async () => {
    const hidden = await createTaskWorkspace(cast.bob, 'why-hidden');
    const task = await submitTask(cast.bob, hidden);
    assertError(await cast.alice.get(`/api/v1/tasks/${task.id}/why`), 404, 'not_found');
  });
});
