/**
 * The permission matrix for tasks and workers: the rows of
 * ../helpers/task-permission-rows.ts × every kind of caller × a public and a
 * private workspace (× a task submitted by the uploader and one by the owner),
 * each cell asserting the status and the error code. permissions.test.ts checks
 * that these rows and its own cover every operation of the API.
 */
import { after, before, describe } from 'node:test';
import { onOneDatabase } from '../helpers/databases.ts';
import { instanceCells, titleOf, visibilityCells, type Row } from '../helpers/permission-cells.ts';
import {
  createCast,
  type ActorName,
  type Cast,
  type Creator,
  type Visibility,
} from '../helpers/permission-fixtures.ts';
import {
  createRunningFixtures,
  createTaskFixture,
  ghostTaskFixture,
  type TaskFixture,
} from '../helpers/task-fixtures.ts';
import {
  matrixWorker,
  taskRows,
  taskWorkspaceRows,
  workerRows,
  type TaskContext,
} from '../helpers/task-permission-rows.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const creators: readonly Creator[] = ['uploader', 'owner'];

onOneDatabase((backend) => {
  let server: TestServer;
  let cast: Cast;
  let running: Readonly<Record<Visibility, TaskFixture>>;
  before(async () => {
    // The running fixtures' leases must outlast the suite: nothing heartbeats for them.
    server = await startTestServer(backend, { 'lease-timeout': '3600' });
    cast = await createCast(server);
    running = await createRunningFixtures(cast, matrixWorker);
  });
  after(async () => {
    await server.close();
  });

  for (const row of workerRows) {
    describe(titleOf(row), () => {
      instanceCells(row, () => cast);
    });
  }

  /**
   * Reads and the worker protocol (which no user may use) share the running
   * fixtures; a cell that changes a task gets a fresh fixture of pending tasks.
   */
  const fixtureFor = (row: Row<TaskContext, string>, visibility: Visibility) =>
    row.method === 'GET' || row.rule === 'machine'
      ? Promise.resolve(running[visibility])
      : createTaskFixture(cast, visibility);
  const contextOf =
    (creator: Creator) =>
    (fixture: TaskFixture, actor: ActorName, visibility: Visibility): TaskContext => ({
      cast,
      actor,
      fixture,
      visibility,
      task: fixture.tasks[creator],
    });

  for (const row of taskWorkspaceRows) {
    describe(titleOf(row), () => {
      visibilityCells(row, row.rule, '', {
        fixtureFor,
        ghost: ghostTaskFixture,
        contextOf: contextOf('owner'),
      });
    });
  }

  for (const row of taskRows) {
    describe(titleOf(row), () => {
      for (const creator of creators) {
        const rule =
          row.rule !== 'change' ? row.rule : creator === 'uploader' ? 'change-own' : 'write';
        visibilityCells(row, rule, `, ${creator}'s task`, {
          fixtureFor,
          ghost: ghostTaskFixture,
          contextOf: contextOf(creator),
        });
      }
    });
  }
});
