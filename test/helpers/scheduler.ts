import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { apiAs, createUserWithToken, type Api, type ApiResponse } from './api.ts';
import { assertStatus } from './assertions.ts';
import type { TestServer } from './server.ts';

export const GiB = 1024 ** 3;

/** What a simulated worker declares at enrolment (every field defaulted). */
export interface WorkerSpec {
  readonly architectures?: readonly string[];
  readonly cross_architectures?: readonly string[];
  readonly executors?: readonly string[];
  readonly cores?: number;
  readonly memory?: number;
  readonly disk?: number;
  readonly tags?: readonly string[];
}

/** An amd64 worker with the host executor, 8 GiB of memory and 100 GiB of disk. */
export const plainWorker = Object.freeze({
  architectures: ['amd64'],
  executors: ['host'],
  cores: 2,
  memory: 8 * GiB,
  disk: 100 * GiB,
});

/** A task as a simulated worker holds it after claiming: its assignment and task token. */
export interface ClaimedTask {
  readonly id: number;
  readonly attempt: number;
  readonly token: string;
  /** The assignment as the server sent it. */
  readonly assignment: Record<string, unknown>;
  /** The API as the holder of the task token. */
  readonly api: Api;
  /** Appends to the task's log (text/plain); returns the raw answer. */
  log(text: string): Promise<ApiResponse>;
  /** Reports the attempt's result; returns the raw answer. */
  complete(result?: 'success' | 'failure' | 'error', extra?: object): Promise<ApiResponse>;
}

/**
 * A worker played by the test over the worker protocol: it enrols with an
 * enrolment token, heartbeats and claims when told to, and holds the tasks it
 * claimed until the test completes them. Nothing runs by itself.
 */
export interface SimulatedWorker {
  readonly name: string;
  readonly api: Api;
  /** Long-polls at most `wait` seconds; the claimed task, or `undefined` on 204. */
  claim(wait?: number): Promise<ClaimedTask | undefined>;
  /** Claims, failing the test unless a task comes within `wait` seconds. */
  claimOrFail(wait?: number): Promise<ClaimedTask>;
  /** Heartbeats with `body` (free disk, running tasks); returns the answer's body. */
  heartbeat(body?: object): Promise<{ cancel: number[]; lease_timeout: number }>;
}

/** Enrols a simulated worker named `name` with `spec` over `plainWorker`. */
export async function enrolWorker(
  server: TestServer,
  name: string,
  spec: WorkerSpec = {},
): Promise<SimulatedWorker> {
  const admin = apiAs(server, server.adminToken);
  const enrolment = await admin.post('/api/v1/workers/enrolment-tokens', {});
  assertStatus(enrolment, 201);
  const enrolled = await apiAs(server, enrolment.body.token as string).post(
    '/api/v1/workers/enrol',
    { name, metadata: { ...plainWorker, ...spec } },
  );
  assertStatus(enrolled, 200);
  const api = apiAs(server, enrolled.body.token as string);
  const claim = async (wait = 0): Promise<ClaimedTask | undefined> => {
    const response = await api.post('/api/v1/worker/claim', { wait });
    if (response.status === 204) {
      return undefined;
    }
    assertStatus(response, 200);
    return claimedTask(server, response.body);
  };
  return {
    name,
    api,
    claim,
    async claimOrFail(wait = 5) {
      const claimed = await claim(wait);
      assert.ok(claimed, `worker ${name} got no task within ${wait} s`);
      return claimed;
    },
    async heartbeat(body = {}) {
      const response = await api.post('/api/v1/worker/heartbeat', body);
      assertStatus(response, 200);
      return response.body as { cancel: number[]; lease_timeout: number };
    },
  };
}

function claimedTask(server: TestServer, assignment: Record<string, unknown>): ClaimedTask {
  const id = assignment['task'] as number;
  const token = assignment['token'] as string;
  const api = apiAs(server, token);
  return {
    id,
    attempt: assignment['attempt'] as number,
    token,
    assignment,
    api,
    log: (text) =>
      api.call('POST', `/api/v1/tasks/${id}/log`, text, { 'content-type': 'text/plain' }),
    complete: (result = 'success', extra = {}) =>
      api.post(`/api/v1/tasks/${id}/complete`, { result, ...extra }),
  };
}

/** Completes a claimed task and asserts the server took the result. */
export async function finish(
  task: ClaimedTask,
  result: 'success' | 'failure' | 'error' = 'success',
): Promise<void> {
  assertStatus(await task.complete(result), 204);
}

/** The users of a scheduler suite: the admin and two developers, alice and bob. */
export interface SchedulerCast {
  readonly admin: Api;
  readonly alice: Api;
  readonly bob: Api;
  readonly tokens: { readonly alice: string; readonly bob: string };
}

/** Creates alice and bob (developers) on `server`. */
export async function createSchedulerCast(server: TestServer): Promise<SchedulerCast> {
  const tokens = {
    alice: await createUserWithToken(server, 'alice'),
    bob: await createUserWithToken(server, 'bob'),
  };
  return {
    admin: apiAs(server, server.adminToken),
    alice: apiAs(server, tokens.alice),
    bob: apiAs(server, tokens.bob),
    tokens,
  };
}

let names = 0;

/** A name no other call in this process got (workspaces, workers). */
export function uniqueName(prefix: string): string {
  names += 1;
  return `${prefix}-${names}`;
}

/**
 * Creates a workspace owned by `owner`, private unless asked, with `members`
 * (username to role); returns its name.
 */
export async function createTaskWorkspace(
  owner: Api,
  prefix: string,
  options: { public?: boolean; members?: Record<string, string> } = {},
): Promise<string> {
  const name = uniqueName(prefix);
  assertStatus(
    await owner.post('/api/v1/workspaces', { name, public: options.public ?? false }),
    201,
  );
  for (const [username, role] of Object.entries(options.members ?? {})) {
    assertStatus(await owner.put(`/api/v1/workspaces/${name}/members/${username}`, { role }), 200);
  }
  return name;
}

/** Submits a task (a noop unless `body` says otherwise); asserts 201 and returns the task. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Task as JSON
export async function submitTask(api: Api, workspace: string, body: object = {}): Promise<any> {
  const response = await api.post(`/api/v1/workspaces/${workspace}/tasks`, {
    type: 'noop',
    ...body,
  });
  assertStatus(response, 201);
  return response.body;
}

/**
 * Makes `count` copies of a submitted pending task in one statement: the same
 * workspace, submitter, type, input and requirements, and the same submission
 * time (ties in the queue go by id). For a mass rebuild: submitting thousands
 * of tasks one request at a time takes minutes on PGlite. Returns the ids of
 * the copies, in queue order.
 */
export async function copyTask(server: TestServer, id: number, count: number): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`
    insert into tasks (workspace_id, type, input, runs_on, architecture, host_architecture,
      executor, min_memory, min_disk, tags, base_score, priority, queue_key, state, created_by,
      created_at, time_limit, max_lost_leases)
    select t.workspace_id, t.type, t.input, t.runs_on, t.architecture, t.host_architecture,
      t.executor, t.min_memory, t.min_disk, t.tags, t.base_score, t.priority, t.queue_key,
      t.state, t.created_by, t.created_at, t.time_limit, t.max_lost_leases
    from tasks t cross join generate_series(1, ${count}) n
    where t.id = ${id} and t.state = 'pending'
    order by n
    returning id`.execute(server.database.db);
  assert.equal(rows.length, count, `task ${id} is not pending`);
  return rows.map((r) => r.id).sort((a, b) => a - b);
}

/** The task as `api` sees it; asserts 200. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Task as JSON
export async function getTask(api: Api, id: number): Promise<any> {
  const response = await api.get(`/api/v1/tasks/${id}`);
  assertStatus(response, 200);
  return response.body;
}

/** Asserts the task's state (and result and reason, when given). */
export async function expectTask(
  api: Api,
  id: number,
  expected: { state: string; result?: string | null; reason?: string | null },
): Promise<void> {
  const task = await getTask(api, id);
  const actual = {
    state: task.state,
    ...(expected.result === undefined ? {} : { result: task.result }),
    ...(expected.reason === undefined ? {} : { reason: task.reason }),
  };
  assert.deepEqual(actual, expected, `task ${id}: ${JSON.stringify(task)}`);
}

/**
 * Polls the task every 50 ms until `done` holds for it, at most `limitMs`;
 * returns it. For what the server does on its own (reaper, server tasks).
 */
export async function waitForTask(
  api: Api,
  id: number,
  what: string,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Task as JSON
  done: (task: any) => boolean,
  limitMs = 10_000,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Task as JSON
): Promise<any> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const task = await getTask(api, id);
    if (done(task)) {
      return task;
    }
    if (Date.now() > deadline) {
      assert.fail(`task ${id} did not become ${what}: ${JSON.stringify(task)}`);
    }
    await sleep(50);
  }
}

/** The reason codes GET /tasks/:id/why gives. */
export async function whyCodes(api: Api, id: number): Promise<string[]> {
  const response = await api.get(`/api/v1/tasks/${id}/why`);
  assertStatus(response, 200);
  return (response.body.reasons as { code: string }[]).map((r) => r.code);
}

/** Sets a workspace's running-task limit in the database (no API sets it yet). */
export async function setWorkspaceLimit(
  server: TestServer,
  workspace: string,
  limit: number | null,
): Promise<void> {
  await server.database.db
    .updateTable('workspaces')
    .set({ max_running_tasks: limit })
    .where('name', '=', workspace)
    .execute();
}

/**
 * Leaves the server as a fresh one for the scheduler: removes every worker (so
 * none is online) and ends every unfinished task, so that one test's leftovers
 * are never claimed in the next.
 */
export async function resetScheduler(server: TestServer): Promise<void> {
  const admin = apiAs(server, server.adminToken);
  const workers = await admin.get('/api/v1/workers');
  assertStatus(workers, 200);
  for (const worker of workers.body.items as { name: string }[]) {
    assertStatus(await admin.delete(`/api/v1/workers/${worker.name}`), 204);
  }
  await sql`update tasks set state = 'cancelled', reason = 'test-reset', completed_at = now(),
    lease_expires_at = null, cancel_requested = false
    where state in ('blocked', 'pending', 'running')`.execute(server.database.db);
}
