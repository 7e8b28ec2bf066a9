import assert from 'node:assert/strict';
import { apiAs, type Api } from './api.ts';
import {
  expectStatus,
  freshName,
  type Cast,
  type Creator,
  type Visibility,
} from './permission-fixtures.ts';

/**
 * A workspace with viewer, uploader, writer and owner as members, and a noop
 * task submitted by each creator ("changes its own" needs both).
 */
export interface TaskFixture {
  readonly workspace: string;
  readonly tasks: Readonly<Record<Creator, number>>;
}

/** A fixture of names and ids that exist nowhere: what a hidden one must look like. */
export const ghostTaskFixture: TaskFixture = Object.freeze({
  workspace: 'ghost-workspace',
  tasks: { uploader: 999_999_011, owner: 999_999_012 },
});

/** What a worker declares at enrolment: a small amd64 host. */
export const workerMetadata = Object.freeze({
  architectures: ['amd64'],
  executors: ['host'],
  cores: 2,
  memory: 1e9,
  disk: 1e10,
});

/** Creates a workspace whose members are the matrix's, as its owner. */
export async function createMemberWorkspace(cast: Cast, visibility: Visibility): Promise<string> {
  const owner = cast.as('owner');
  const workspace = freshName(`tasks-${visibility}`);
  await expectStatus(
    owner.post('/api/v1/workspaces', { name: workspace, public: visibility === 'public' }),
    201,
  );
  for (const role of ['viewer', 'uploader', 'writer'] as const) {
    await expectStatus(owner.put(`/api/v1/workspaces/${workspace}/members/${role}`, { role }), 200);
  }
  return workspace;
}

/** A fresh task fixture, its tasks pending, so that a cell's changes touch no other cell. */
export async function createTaskFixture(cast: Cast, visibility: Visibility): Promise<TaskFixture> {
  const workspace = await createMemberWorkspace(cast, visibility);
  const submit = async (creator: Creator) => {
    const path = `/api/v1/workspaces/${workspace}/tasks`;
    const task = await expectStatus(cast.as(creator).post(path, { type: 'noop' }), 201);
    return task.body.id as number;
  };
  return { workspace, tasks: { uploader: await submit('uploader'), owner: await submit('owner') } };
}

/** Enrols a worker (by default under a fresh name) with an admin's enrolment token; returns its API. */
export async function enrolWorker(cast: Cast, name = freshName('worker')): Promise<Api> {
  const enrolment = await expectStatus(
    cast.as('admin').post('/api/v1/workers/enrolment-tokens', {}),
    201,
  );
  const enrolled = await expectStatus(
    apiAs(cast.server, enrolment.body.token as string).post('/api/v1/workers/enrol', {
      name,
      metadata: workerMetadata,
    }),
    200,
  );
  return apiAs(cast.server, enrolled.body.token as string);
}

/** The text each running fixture task has logged. */
export function logOf(task: number): string {
  return `log of task ${task}\n`;
}

/**
 * Task fixtures whose tasks run on one worker, `worker`, each having logged
 * `logOf(task)`: what reading a task, its log and the workers shows. Made
 * before anything else is queued on the server, so the worker claims exactly
 * these tasks; the server's lease must outlast the tests.
 */
export async function createRunningFixtures(
  cast: Cast,
  worker: string,
): Promise<Readonly<Record<Visibility, TaskFixture>>> {
  const api = await enrolWorker(cast, worker);
  const run = async (visibility: Visibility) => {
    const fixture = await createTaskFixture(cast, visibility);
    const claimed = [];
    for (let i = 0; i < 2; i += 1) {
      const claim = await expectStatus(api.post('/api/v1/worker/claim', { wait: 0 }), 200);
      const task = claim.body.task as number;
      const taskApi = apiAs(cast.server, claim.body.token as string);
      await expectStatus(
        taskApi.call('POST', `/api/v1/tasks/${task}/log`, logOf(task), {
          'content-type': 'text/plain',
        }),
        200,
      );
      claimed.push(task);
    }
    assert.deepEqual(
      claimed.sort((a, b) => a - b),
      Object.values(fixture.tasks).sort((a, b) => a - b),
      'the worker claimed the fixture tasks',
    );
    return fixture;
  };
  return { public: await run('public'), private: await run('private') };
}
