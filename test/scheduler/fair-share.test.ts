import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  createSchedulerCast,
  copyTask,
  createTaskWorkspace,
  enrolWorker,
  finish,
  resetScheduler,
  submitTask,
  uniqueName,
  type ClaimedTask,
  type SchedulerCast,
  type SimulatedWorker,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** The mass rebuild's size. */
const massRebuild = 3000;
/** B's one-off task must be among this many claims after it was submitted. */
const withinClaims = 3;

/**
 * Two workers taking turns, each finishing its previous task just before it
 * claims again. `overlap` keeps the other worker's task running during each
 * claim (long builds); without it every task ends before the next claim
 * (quick tasks, or one worker at a time).
 */
function createTurns(workers: readonly SimulatedWorker[], overlap: boolean) {
  const held = new Map<SimulatedWorker, ClaimedTask>();
  let turn = 0;
  return {
    /** The next worker finishes what it holds (all workers do, without overlap) and claims. */
    async next(): Promise<ClaimedTask> {
      const worker = workers[turn % workers.length]!;
      turn += 1;
      for (const [holder, task] of held) {
        if (holder === worker || !overlap) {
          await finish(task);
          held.delete(holder);
        }
      }
      const claimed = await worker.claimOrFail(1);
      held.set(worker, claimed);
      return claimed;
    },
    async finishAll(): Promise<void> {
      for (const task of held.values()) {
        await finish(task);
      }
      held.clear();
    },
  };
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

  /**
   * A submits the backlog, two workers start on it, then B submits one task:
   * it must come within `withinClaims` claims, and the claims before it are
   * A's, oldest first.
   */
  async function oneOffIsNotStarved(
    overlap: boolean,
    workspaces: { a: string; b: string },
  ): Promise<void> {
    const first = await submitTask(cast.alice, workspaces.a);
    const backlog = [first.id as number, ...(await copyTask(server, first.id, massRebuild - 1))];
    const turns = createTurns(
      [
        await enrolWorker(server, uniqueName('mass-1')),
        await enrolWorker(server, uniqueName('mass-2')),
      ],
      overlap,
    );
    const before: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      before.push((await turns.next()).id);
    }
    assert.deepEqual(before, backlog.slice(0, 6), "A's backlog runs oldest first");
    const oneOff = await submitTask(cast.bob, workspaces.b);
    const after: number[] = [];
    for (let i = 0; i < withinClaims && !after.includes(oneOff.id); i += 1) {
      after.push((await turns.next()).id);
    }
    assert.ok(
      after.includes(oneOff.id),
      `B's task ${oneOff.id} is not among the ${withinClaims} claims after it: ${after.join(', ')}`,
    );
    await turns.finishAll();
  }

  describe('a mass rebuild in one workspace and a one-off build in another', () => {
    it('the one-off build runs within a few claims while the rebuild runs', async () => {
      await oneOffIsNotStarved(true, {
        a: await createTaskWorkspace(cast.alice, 'mass'),
        b: await createTaskWorkspace(cast.bob, 'one-off'),
      });
    });

    it('the one-off build runs within a few claims when each rebuild task ends before the next claim', async () => {
      await oneOffIsNotStarved(false, {
        a: await createTaskWorkspace(cast.alice, 'mass'),
        b: await createTaskWorkspace(cast.bob, 'one-off'),
      });
    });
  });

  describe('workers that claim at the same moment (one batch)', () => {
    it('each get a different task, and the one-off build is among them', async () => {
      const a = await createTaskWorkspace(cast.alice, 'mass');
      const b = await createTaskWorkspace(cast.bob, 'one-off');
      const first = await submitTask(cast.alice, a);
      const backlog = [first.id as number, ...(await copyTask(server, first.id, 19))];
      const oneOff = await submitTask(cast.bob, b);
      const workers = [];
      for (let i = 1; i <= 4; i += 1) {
        workers.push(await enrolWorker(server, uniqueName(`batch-${i}`)));
      }
      const claimed = await Promise.all(workers.map((w) => w.claimOrFail(1)));
      const ids = claimed.map((t) => t.id);
      assert.equal(new Set(ids).size, 4, `four different tasks: ${ids.join(', ')}`);
      assert.ok(ids.includes(oneOff.id), `B's task ${oneOff.id} is among ${ids.join(', ')}`);
      assert.deepEqual(
        ids.filter((id) => id !== oneOff.id).sort((x, y) => x - y),
        backlog.slice(0, 3),
        "the others are A's oldest",
      );
      for (const task of claimed) {
        await finish(task);
      }
    });
  });

  describe('two users in one workspace', () => {
    it("one user's task runs within a few claims while the other's rebuild runs", async () => {
      const shared = await createTaskWorkspace(cast.alice, 'shared', {
        members: { bob: 'uploader' },
      });
      await oneOffIsNotStarved(true, { a: shared, b: shared });
    });

    it("one user's task runs within a few claims when each rebuild task ends before the next claim", async () => {
      const shared = await createTaskWorkspace(cast.alice, 'shared', {
        members: { bob: 'uploader' },
      });
      await oneOffIsNotStarved(false, { a: shared, b: shared });
    });
  });
});
