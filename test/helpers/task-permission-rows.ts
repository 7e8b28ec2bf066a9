/**
 * The permission matrix's rows for tasks and workers (the rules are in
 * permission-rules.ts). Tasks live in a workspace: reading one follows the
 * workspace's read rule; submitting needs upload; cancelling and retrying need
 * write, or upload for a task the caller submitted; a priority is the admin's
 * alone. Anyone may list the workers, but sees only the running tasks it may
 * see; managing workers is the admin's. The worker protocol is no user's.
 */
import assert from 'node:assert/strict';
import type { FixtureContext, InstanceContext, Row } from './permission-cells.ts';
import { freshName } from './permission-fixtures.ts';
import { seesPrivate, type Rule } from './permission-rules.ts';
import { enrolWorker, logOf, workerMetadata, type TaskFixture } from './task-fixtures.ts';

/** The worker that runs the read fixtures' tasks. */
export const matrixWorker = 'matrix-worker';

export interface TaskContext extends FixtureContext {
  readonly fixture: TaskFixture;
  /** The cell's task: the one its creator submitted (running, in read fixtures). */
  readonly task: number;
}

const inWorkspace = ({ fixture }: TaskContext) => ({ workspace: fixture.workspace });
const ofTask = ({ task }: TaskContext) => ({ id: task });

/** Rows in a workspace, one cell per caller and visibility. */
export const taskWorkspaceRows: readonly Row<TaskContext, Rule>[] = [
  {
    method: 'GET',
    path: '/api/v1/workers',
    rule: 'anyone',
    status: 200,
    call: () => ({}),
    check(response, { fixture, actor, visibility }) {
      const workers = response.body.items as { name: string; running: number[] }[];
      const worker = workers.find((w) => w.name === matrixWorker);
      assert.ok(worker, `${matrixWorker} is listed`);
      const shown = visibility === 'public' || seesPrivate.includes(actor);
      for (const task of Object.values(fixture.tasks)) {
        assert.equal(worker.running.includes(task), shown, `running: ${worker.running.join()}`);
      }
    },
  },
  {
    method: 'GET',
    path: '/api/v1/workspaces/{workspace}/tasks',
    rule: 'read',
    status: 200,
    call: (context) => ({ params: inWorkspace(context) }),
    check(response, { fixture }) {
      const ids = (response.body.items as { id: number }[]).map((t) => t.id);
      const byId = (a: number, b: number) => a - b;
      assert.deepEqual(ids.sort(byId), Object.values(fixture.tasks).sort(byId));
    },
  },
  {
    method: 'POST',
    path: '/api/v1/workspaces/{workspace}/tasks',
    rule: 'upload',
    status: 201,
    call: (context) => ({ params: inWorkspace(context), body: { type: 'noop' } }),
    check(response, { fixture }) {
      assert.equal(response.body.workspace, fixture.workspace);
      assert.equal(response.body.state, 'pending');
    },
  },
  {
    method: 'POST',
    path: '/api/v1/workspaces/{workspace}/tasks',
    does: 'with a priority above 0',
    rule: 'admin',
    status: 201,
    call: (context) => ({ params: inWorkspace(context), body: { type: 'noop', priority: 5 } }),
    check(response) {
      assert.equal(response.body.priority, 5);
    },
  },
];

/**
 * Rows of a task, one cell per caller, visibility and creator. `change` is
 * `change-own` for the uploader's task, else `write`.
 */
export const taskRows: readonly Row<TaskContext, 'read' | 'change' | 'admin' | 'machine'>[] = [
  {
    method: 'GET',
    path: '/api/v1/tasks/{id}',
    rule: 'read',
    status: 200,
    call: (context) => ({ params: ofTask(context) }),
    check(response, { fixture, task }) {
      assert.equal(response.body.id, task);
      assert.equal(response.body.workspace, fixture.workspace);
    },
  },
  {
    method: 'GET',
    path: '/api/v1/tasks/{id}/why',
    rule: 'read',
    status: 200,
    call: (context) => ({ params: ofTask(context) }),
    check(response, { task }) {
      assert.equal(response.body.task, task);
      assert.match(response.body.reasons[0].message, new RegExp(`running on ${matrixWorker}`));
    },
  },
  {
    method: 'GET',
    path: '/api/v1/tasks/{id}/log',
    rule: 'read',
    status: 200,
    call: (context) => ({ params: ofTask(context) }),
    check(response, { task }) {
      assert.equal(response.raw.toString('utf8'), logOf(task));
    },
  },
  {
    method: 'POST',
    path: '/api/v1/tasks/{id}/cancel',
    rule: 'change',
    status: 200,
    call: (context) => ({ params: ofTask(context) }),
    check(response) {
      assert.equal(response.body.state, 'cancelled');
    },
  },
  {
    method: 'POST',
    path: '/api/v1/tasks/{id}/retry',
    does: 'a cancelled task',
    rule: 'change',
    status: 200,
    async prepare({ cast, task }) {
      const cancelled = await cast.as('owner').post(`/api/v1/tasks/${task}/cancel`);
      assert.equal(cancelled.body.state, 'cancelled');
    },
    call: (context) => ({ params: ofTask(context) }),
    check(response) {
      assert.equal(response.body.state, 'pending');
    },
  },
  {
    method: 'PATCH',
    path: '/api/v1/tasks/{id}',
    does: 'set the priority',
    rule: 'admin',
    status: 200,
    call: (context) => ({ params: ofTask(context), body: { priority: 7 } }),
    check(response) {
      assert.equal(response.body.priority, 7);
    },
  },
  // The worker protocol, on a running task: a task token's, never a user's. Its
  // success status is what the right token gets, in worker-tokens.test.ts.
  {
    method: 'POST',
    path: '/api/v1/tasks/{id}/log',
    rule: 'machine',
    status: 200,
    call: (context) => ({
      params: ofTask(context),
      body: 'a user writing into the log\n',
      headers: { 'content-type': 'text/plain' },
    }),
  },
  {
    method: 'POST',
    path: '/api/v1/tasks/{id}/complete',
    rule: 'machine',
    status: 204,
    call: (context) => ({ params: ofTask(context), body: { result: 'success' } }),
  },
  {
    method: 'POST',
    path: '/api/v1/tasks/{id}/release',
    rule: 'machine',
    status: 204,
    call: (context) => ({ params: ofTask(context) }),
  },
];

/** Enrols a fresh worker for a cell that changes one. */
async function freshWorker({ cast }: InstanceContext): Promise<string> {
  const name = freshName('worker');
  await enrolWorker(cast, name);
  return name;
}

/** Rows outside any workspace, one cell per caller. */
export const workerRows: readonly Row<InstanceContext, Rule>[] = [
  {
    method: 'PATCH',
    path: '/api/v1/workers/{name}',
    rule: 'admin',
    status: 200,
    call: async (context) => ({
      params: { name: await freshWorker(context) },
      body: { enabled: false },
    }),
    check(response) {
      assert.equal(response.body.enabled, false);
    },
  },
  {
    method: 'DELETE',
    path: '/api/v1/workers/{name}',
    rule: 'admin',
    status: 204,
    call: async (context) => ({ params: { name: await freshWorker(context) } }),
  },
  {
    method: 'POST',
    path: '/api/v1/workers/enrolment-tokens',
    rule: 'admin',
    status: 201,
    call: () => ({ body: { name: 'matrix' } }),
  },
  // The worker protocol: an enrolment or worker token's, never a user's.
  {
    method: 'POST',
    path: '/api/v1/workers/enrol',
    rule: 'machine',
    status: 200,
    call: () => ({ body: { name: freshName('worker'), metadata: workerMetadata } }),
  },
  {
    method: 'POST',
    path: '/api/v1/worker/heartbeat',
    rule: 'machine',
    status: 200,
    call: () => ({ body: { load: 0.5 } }),
  },
  {
    method: 'POST',
    path: '/api/v1/worker/claim',
    rule: 'machine',
    status: 200,
    call: () => ({ body: { wait: 0 } }),
  },
];
