/**
 * The worker protocol's tokens, beside the permission matrix (where every user
 * is refused them): an enrolment token only enrols; a worker token only
 * heartbeats and claims; a task token works on its own task's attempt only,
 * reaches that task's inputs and outputs and nothing else of its workspace,
 * and is stale (409) once the attempt is over.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { apiAs, type Api } from '../helpers/api.ts';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  createCast,
  createWorkspaceFixture,
  expectStatus,
  type Cast,
  type WorkspaceFixture,
} from '../helpers/permission-fixtures.ts';
import { createMemberWorkspace, enrolWorker, workerMetadata } from '../helpers/task-fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const text = { 'content-type': 'text/plain' };

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: Cast;
  /** The private workspace the tasks run in, with artifacts that are not their inputs. */
  let home: WorkspaceFixture;
  let otherPrivate: string;
  let otherPublic: string;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createCast(server);
    home = await createWorkspaceFixture(cast, 'private');
    otherPrivate = await createMemberWorkspace(cast, 'private');
    otherPublic = await createMemberWorkspace(cast, 'public');
  });
  after(async () => {
    await server.close();
  });

  async function submit(body: object): Promise<number> {
    const path = `/api/v1/workspaces/${home.workspace}/tasks`;
    return (await expectStatus(cast.as('owner').post(path, body), 201)).body.id as number;
  }

  /** Claims as `worker` until it has every task of `ids`; returns each one's task token. */
  async function claimAll(worker: Api, ids: readonly number[]): Promise<Map<number, Api>> {
    const tokens = new Map<number, Api>();
    for (let i = 0; i < ids.length; i += 1) {
      const claim = await expectStatus(worker.post('/api/v1/worker/claim', { wait: 0 }), 200);
      tokens.set(claim.body.task as number, apiAs(server, claim.body.token as string));
    }
    const byId = (a: number, b: number) => a - b;
    assert.deepEqual([...tokens.keys()].sort(byId), [...ids].sort(byId));
    return tokens;
  }

  it('lets an enrolment token enrol a worker, and do nothing else', async () => {
    const created = await expectStatus(
      cast.as('admin').post('/api/v1/workers/enrolment-tokens', {}),
      201,
    );
    const enrolment = apiAs(server, created.body.token as string);
    assertError(await enrolment.post('/api/v1/worker/heartbeat', {}), 403, 'forbidden');
    assertError(await enrolment.post('/api/v1/worker/claim', { wait: 0 }), 403, 'forbidden');
    assertError(await enrolment.post('/api/v1/workers/enrolment-tokens', {}), 403, 'forbidden');
    assertError(
      await enrolment.post('/api/v1/workspaces', { name: 'by-enrolment' }),
      403,
      'forbidden',
    );
    // It sees no more of the workspaces than a caller without a token.
    const workspace = `/api/v1/workspaces/${home.workspace}`;
    assertError(await enrolment.get(workspace), 404, 'not_found');
    assertError(await enrolment.get(`${workspace}/artifacts`), 404, 'not_found');
    assertError(await enrolment.get(`/api/v1/artifacts/${home.base}`), 404, 'not_found');
    const listed = await enrolment.get('/api/v1/workspaces');
    assertStatus(listed, 200);
    const names = (listed.body.items as { name: string }[]).map((w) => w.name);
    assert.deepEqual(names.includes(home.workspace), false);
    assert.deepEqual(names.includes(otherPublic), true);

    const enrolled = await enrolment.post('/api/v1/workers/enrol', {
      name: 'enrolled',
      metadata: workerMetadata,
    });
    assertStatus(enrolled, 200);
    assert.equal(enrolled.body.worker.name, 'enrolled');
    const worker = apiAs(server, enrolled.body.token as string);
    assertStatus(await worker.post('/api/v1/worker/heartbeat', {}), 200);
  });

  it('lets a worker token heartbeat and claim, and do nothing else', async () => {
    const worker = await enrolWorker(cast, 'claimer');
    const beat = await worker.post('/api/v1/worker/heartbeat', { load: 0.25 });
    assertStatus(beat, 200);
    assert.deepEqual(beat.body.cancel, []);
    assertStatus(await worker.post('/api/v1/worker/claim', { wait: 0 }), 204);
    const task = await submit({ type: 'noop' });
    const claimed = await claimAll(worker, [task]);

    assertError(
      await worker.post('/api/v1/workers/enrol', { name: 'another', metadata: workerMetadata }),
      403,
      'forbidden',
    );
    assertError(await worker.post('/api/v1/workers/enrolment-tokens', {}), 403, 'forbidden');
    assertError(await worker.patch('/api/v1/workers/claimer', { enabled: true }), 403, 'forbidden');
    // Its task's private workspace stays hidden from it: the task token reaches what it needs.
    assertError(await worker.get(`/api/v1/workspaces/${home.workspace}`), 404, 'not_found');
    assertError(await worker.get(`/api/v1/artifacts/${home.base}`), 404, 'not_found');
    assertError(await worker.get(`/api/v1/tasks/${task}`), 404, 'not_found');
    // The log and the result are the task token's to send.
    const log = `/api/v1/tasks/${task}/log`;
    assertError(await worker.call('POST', log, 'by the worker\n', text), 403, 'forbidden');
    const complete = `/api/v1/tasks/${task}/complete`;
    assertError(await worker.post(complete, { result: 'success' }), 403, 'forbidden');
    assertStatus(await claimed.get(task)!.post(complete, { result: 'success' }), 204);
  });

  it('lets a task token work on its own task, its inputs and its outputs only', async () => {
    const worker = await enrolWorker(cast, 'runner');
    const input = home.artifacts.owner;
    const task = await submit({ type: 'shell', input: { command: 'true', inputs: [input.id] } });
    const other = await submit({ type: 'noop' });
    const tokens = await claimAll(worker, [task, other]);
    const own = tokens.get(task)!;

    // Its task's log, result and hand-back, and no other task's.
    const logged = await own.call('POST', `/api/v1/tasks/${task}/log`, 'working\n', text);
    assertStatus(logged, 200);
    assert.deepEqual(logged.body, { cancel: false });
    assertStatus(await own.get(`/api/v1/tasks/${task}`), 200);
    const ofOther = `/api/v1/tasks/${other}`;
    assertError(await own.call('POST', `${ofOther}/log`, 'not mine\n', text), 403, 'forbidden');
    assertError(await own.post(`${ofOther}/complete`, { result: 'success' }), 403, 'forbidden');
    assertError(await own.post(`${ofOther}/release`), 403, 'forbidden');
    assertError(await own.patch(`/api/v1/tasks/${task}`, { priority: 9 }), 403, 'forbidden');

    // Its input, and nothing else of its private workspace.
    assertStatus(await own.get(`/api/v1/artifacts/${input.id}`), 200);
    const file = await own.get(`/api/v1/artifacts/${input.id}/files/${input.done.path}`);
    assertStatus(file, 200);
    assert.deepEqual(file.raw, input.done.content);
    for (const hidden of [home.base, home.artifacts.uploader.id]) {
      assertError(await own.get(`/api/v1/artifacts/${hidden}`), 404, 'not_found');
    }
    const workspace = `/api/v1/workspaces/${home.workspace}`;
    assertError(await own.get(`${workspace}/artifacts`), 403, 'forbidden');
    assertError(await own.get(`${workspace}/tasks`), 403, 'forbidden');

    // Its outputs, in its own workspace only.
    const output = await own.post(`${workspace}/artifacts`, { type: 'output' });
    assertStatus(output, 201);
    const outputPath = `/api/v1/artifacts/${output.body.id}`;
    assertStatus(await own.get(outputPath), 200);
    assertStatus(await own.patch(outputPath, { data: { built: true } }), 200);
    const elsewhere = (name: string) =>
      own.post(`/api/v1/workspaces/${name}/artifacts`, { type: 'output' });
    assertError(await elsewhere(otherPrivate), 404, 'not_found');
    assertError(await elsewhere(otherPublic), 403, 'forbidden');

    // Once the attempt is over, the token is stale for everything.
    assertStatus(await own.post(`/api/v1/tasks/${task}/complete`, { result: 'success' }), 204);
    const stale = [
      await own.call('POST', `/api/v1/tasks/${task}/log`, 'late\n', text),
      await own.post(`/api/v1/tasks/${task}/complete`, { result: 'success' }),
      await own.post(`/api/v1/tasks/${task}/release`),
      await own.get(outputPath),
      await own.get(`/api/v1/artifacts/${input.id}`),
    ];
    for (const response of stale) {
      assertError(response, 409, 'stale_attempt');
    }
    // A hand-back ends the attempt as well.
    const second = tokens.get(other)!;
    assertStatus(await second.post(`${ofOther}/release`), 204);
    assertError(await second.call('POST', `${ofOther}/log`, 'late\n', text), 409, 'stale_attempt');
  });
});
