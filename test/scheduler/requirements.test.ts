import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  GiB,
  createSchedulerCast,
  createTaskWorkspace,
  enrolWorker,
  expectTask,
  finish,
  resetScheduler,
  submitTask,
  uniqueName,
  type SchedulerCast,
  type WorkerSpec,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** How long a worker that must get nothing long-polls before its 204. */
const shortWait = 0.3;

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  let workspace: string;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createSchedulerCast(server);
    workspace = await createTaskWorkspace(cast.alice, 'req');
  });
  after(async () => {
    await server.close();
  });
  afterEach(async () => {
    await resetScheduler(server);
  });

  /**
   * Submits a task with `requirements`; each worker in `lacking` must get no
   * task (204 after a short wait), then the worker with `fitting` claims it.
   */
  async function onlyFittingClaims(
    requirements: object,
    lacking: readonly WorkerSpec[],
    fitting: WorkerSpec,
  ): Promise<void> {
    const task = await submitTask(cast.alice, workspace, { requirements });
    for (const spec of lacking) {
      const worker = await enrolWorker(server, uniqueName('lacking'), spec);
      assert.equal(
        await worker.claim(shortWait),
        undefined,
        `a worker with ${JSON.stringify(spec)} claimed a task needing ${JSON.stringify(requirements)}`,
      );
    }
    await expectTask(cast.alice, task.id, { state: 'pending' });
    const worker = await enrolWorker(server, uniqueName('fitting'), fitting);
    const claimed = await worker.claimOrFail(1);
    assert.equal(claimed.id, task.id);
    await expectTask(cast.alice, task.id, { state: 'running' });
    await finish(claimed);
  }

  describe('architecture', () => {
    it('goes only to a worker that runs the architecture natively', async () => {
      await onlyFittingClaims(
        { architecture: 'arm64' },
        [
          { architectures: ['amd64'] },
          { architectures: ['amd64'], cross_architectures: ['arm64'] },
        ],
        { architectures: ['amd64', 'arm64'] },
      );
    });
  });

  describe('host architecture', () => {
    it('cross: goes only to a worker of the build architecture that cross-builds for the host', async () => {
      await onlyFittingClaims(
        { architecture: 'amd64', host_architecture: 'arm64' },
        [
          { architectures: ['amd64'] },
          { architectures: ['arm64'] },
          { architectures: ['arm64'], cross_architectures: ['arm64'] },
          { architectures: ['i386'], cross_architectures: ['arm64'] },
        ],
        { architectures: ['amd64'], cross_architectures: ['armhf', 'arm64'] },
      );
    });

    it('native: a host architecture without a build architecture goes to a native worker', async () => {
      await onlyFittingClaims(
        { host_architecture: 'riscv64' },
        [
          { architectures: ['amd64'] },
          { architectures: ['amd64'], cross_architectures: ['arm64'] },
        ],
        { architectures: ['riscv64'] },
      );
    });

    it('native: equal build and host architectures need no cross toolchain', async () => {
      await onlyFittingClaims(
        { architecture: 'arm64', host_architecture: 'arm64' },
        [{ architectures: ['amd64'], cross_architectures: ['arm64'] }],
        { architectures: ['arm64'] },
      );
    });

    it('a host architecture without a build architecture may also be cross-built', async () => {
      await onlyFittingClaims(
        { host_architecture: 'armhf' },
        [{ architectures: ['amd64'], cross_architectures: ['arm64'] }],
        { architectures: ['amd64'], cross_architectures: ['armhf'] },
      );
    });
  });

  describe('executor', () => {
    it('goes only to a worker with the executor', async () => {
      await onlyFittingClaims(
        { executor: 'unshare' },
        [{ executors: ['host'] }, { executors: ['host', 'qemu'] }],
        { executors: ['host', 'unshare'] },
      );
    });
  });

  describe('memory', () => {
    it('goes only to a worker with at least that much memory', async () => {
      await onlyFittingClaims(
        { min_memory: 4 * GiB },
        [{ memory: 2 * GiB }, { memory: 4 * GiB - 1 }],
        { memory: 4 * GiB },
      );
    });
  });

  describe('disk', () => {
    it('goes only to a worker whose heartbeat reports enough free disk', async () => {
      const task = await submitTask(cast.alice, workspace, {
        requirements: { min_disk: 10 * GiB },
      });
      const small = await enrolWorker(server, uniqueName('small-disk'), { disk: 5 * GiB });
      assert.equal(await small.claim(shortWait), undefined, 'a 5 GiB disk fits no 10 GiB task');
      // A big disk that is nearly full: the heartbeat's free disk counts, not the size.
      const full = await enrolWorker(server, uniqueName('full-disk'), { disk: 500 * GiB });
      await full.heartbeat({ free_disk: 3 * GiB });
      assert.equal(await full.claim(shortWait), undefined, 'only 3 GiB of it are free');
      await expectTask(cast.alice, task.id, { state: 'pending' });
      await full.heartbeat({ free_disk: 20 * GiB });
      const claimed = await full.claimOrFail(1);
      assert.equal(claimed.id, task.id);
      await finish(claimed);
    });

    it('a worker that never reported free disk is judged by its disk size', async () => {
      await onlyFittingClaims({ min_disk: 10 * GiB }, [{ disk: 10 * GiB - 1 }], { disk: 10 * GiB });
    });
  });

  describe('tags', () => {
    it('goes only to a worker with every tag', async () => {
      await onlyFittingClaims(
        { tags: ['gpu', 'big'] },
        [{}, { tags: ['gpu'] }, { tags: ['big', 'fast'] }],
        { tags: ['fast', 'big', 'gpu'] },
      );
    });
  });

  it('a task with several requirements needs all of them at once', async () => {
    const all = {
      architectures: ['amd64'],
      cross_architectures: ['arm64'],
      executors: ['unshare'],
      memory: 16 * GiB,
      disk: 200 * GiB,
      tags: ['debian'],
    };
    await onlyFittingClaims(
      {
        architecture: 'amd64',
        host_architecture: 'arm64',
        executor: 'unshare',
        min_memory: 16 * GiB,
        min_disk: 200 * GiB,
        tags: ['debian'],
      },
      [
        { ...all, cross_architectures: [] },
        { ...all, executors: ['host'] },
        { ...all, memory: 8 * GiB },
        { ...all, disk: 100 * GiB },
        { ...all, tags: [] },
      ],
      all,
    );
  });

  it('a worker with every capability still takes a task that needs none', async () => {
    const task = await submitTask(cast.alice, workspace);
    const worker = await enrolWorker(server, uniqueName('rich'), {
      architectures: ['amd64', 'arm64'],
      cross_architectures: ['armhf'],
      executors: ['host', 'unshare'],
      tags: ['gpu'],
    });
    const claimed = await worker.claimOrFail(1);
    assert.equal(claimed.id, task.id);
    await finish(claimed);
  });
});
