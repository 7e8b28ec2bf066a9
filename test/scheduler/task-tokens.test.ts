import assert from 'node:assert/strict';
import { after, afterEach, before, it } from 'node:test';
import { createUploadedArtifact, declare, fileUrl, uploadFile } from '../helpers/artifacts.ts';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  createSchedulerCast,
  createTaskWorkspace,
  enrolWorker,
  finish,
  getTask,
  resetScheduler,
  submitTask,
  uniqueName,
  type ClaimedTask,
  type SchedulerCast,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

function builtUsing(artifact: { relations: { type: string; target: number }[] }): number[] {
  return artifact.relations
    .filter((r) => r.type === 'built-using')
    .map((r) => r.target)
    .sort((a, b) => a - b);
}

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  /** Alice's private workspace, its artifacts, and workspaces of bob's. */
  let fixture: {
    workspace: string;
    inputs: number[];
    contents: Buffer[];
    other: number;
    bobPrivate: string;
    bobPublic: string;
    bobPrivateArtifact: number;
    bobPublicArtifact: number;
  };
  before(async () => {
    server = await startTestServer(backend);
    cast = await createSchedulerCast(server);
    const workspace = await createTaskWorkspace(cast.alice, 'tokens');
    const contents = [Buffer.from('first input\n'), Buffer.from('second input\n')];
    const inputs = [
      await createUploadedArtifact(cast.alice, workspace, 'a.txt', contents[0]!),
      await createUploadedArtifact(cast.alice, workspace, 'b.txt', contents[1]!),
    ];
    const other = await createUploadedArtifact(
      cast.alice,
      workspace,
      'other.txt',
      Buffer.from('not an input\n'),
    );
    const bobPrivate = await createTaskWorkspace(cast.bob, 'bob-private');
    const bobPublic = await createTaskWorkspace(cast.bob, 'bob-public', { public: true });
    fixture = {
      workspace,
      inputs,
      contents,
      other,
      bobPrivate,
      bobPublic,
      bobPrivateArtifact: await createUploadedArtifact(
        cast.bob,
        bobPrivate,
        'p.txt',
        Buffer.from('private\n'),
      ),
      bobPublicArtifact: await createUploadedArtifact(
        cast.bob,
        bobPublic,
        'q.txt',
        Buffer.from('public\n'),
      ),
    };
  });
  after(async () => {
    await server.close();
  });
  afterEach(async () => {
    await resetScheduler(server);
  });

  /** Submits a shell task reading the fixture's inputs; a worker claims it. */
  async function claimShellTask(): Promise<ClaimedTask> {
    const task = await submitTask(cast.alice, fixture.workspace, {
      type: 'shell',
      input: { command: 'cat inputs/*/*', inputs: fixture.inputs },
    });
    assert.deepEqual(task.inputs, fixture.inputs);
    const worker = await enrolWorker(server, uniqueName('tokens'));
    const claimed = await worker.claimOrFail(1);
    assert.equal(claimed.id, task.id);
    assert.deepEqual((claimed.assignment['input'] as { inputs: number[] }).inputs, fixture.inputs);
    return claimed;
  }

  it('reads its input artifacts and their files', async () => {
    const task = await claimShellTask();
    for (const [i, id] of fixture.inputs.entries()) {
      const artifact = await task.api.get(`/api/v1/artifacts/${id}`);
      assertStatus(artifact, 200);
      const path = artifact.body.files[0].path as string;
      const file = await task.api.get(fileUrl(id, path));
      assertStatus(file, 200);
      assert.deepEqual(file.raw, fixture.contents[i]);
    }
  });

  it('gets 404 for any other artifact of its private workspace and 403 for listing it', async () => {
    const task = await claimShellTask();
    assertError(await task.api.get(`/api/v1/artifacts/${fixture.other}`), 404, 'not_found');
    assertError(await task.api.get(fileUrl(fixture.other, 'other.txt')), 404, 'not_found');
    assertError(
      await task.api.get(`/api/v1/artifacts/${fixture.bobPrivateArtifact}`),
      404,
      'not_found',
    );
    assertError(
      await task.api.get(`/api/v1/workspaces/${fixture.workspace}/artifacts`),
      403,
      'forbidden',
    );
    // The submitter sees them all: the refusals are the token's, not the artifacts'.
    assertStatus(await cast.alice.get(`/api/v1/artifacts/${fixture.other}`), 200);
  });

  it('may not change its inputs', async () => {
    const task = await claimShellTask();
    assertError(await task.api.delete(`/api/v1/artifacts/${fixture.inputs[0]}`), 403, 'forbidden');
    assertStatus(await cast.alice.get(`/api/v1/artifacts/${fixture.inputs[0]}`), 200);
  });

  it('creates artifacts in its own workspace only', async () => {
    const task = await claimShellTask();
    assertError(
      await task.api.post(`/api/v1/workspaces/${fixture.bobPrivate}/artifacts`, { type: 'x' }),
      404,
      'not_found',
    );
    assertError(
      await task.api.post(`/api/v1/workspaces/${fixture.bobPublic}/artifacts`, { type: 'x' }),
      403,
      'forbidden',
    );
    const otherOfAlice = await createTaskWorkspace(cast.alice, 'tokens-other');
    assertError(
      await task.api.post(`/api/v1/workspaces/${otherOfAlice}/artifacts`, { type: 'x' }),
      404,
      'not_found',
    );
    const own = await task.api.post(`/api/v1/workspaces/${fixture.workspace}/artifacts`, {
      type: 'x',
    });
    assertStatus(own, 201);
    assert.equal(own.body.created_by, 'alice', "the task's submitter is its creator");
  });

  it('may not submit, read or cancel other tasks', async () => {
    const task = await claimShellTask();
    const sibling = await submitTask(cast.alice, fixture.workspace);
    assertError(
      await task.api.post(`/api/v1/workspaces/${fixture.workspace}/tasks`, { type: 'noop' }),
      403,
      'forbidden',
    );
    const listed = await cast.alice.get(`/api/v1/workspaces/${fixture.workspace}/tasks`);
    assert.deepEqual(
      (listed.body.items as { id: number }[])
        .map((t) => t.id)
        .filter((id: number) => id > sibling.id),
      [],
      'the refused submission left no task behind',
    );
    assertError(await task.api.get(`/api/v1/tasks/${sibling.id}`), 403, 'forbidden');
    assertError(await task.api.post(`/api/v1/tasks/${sibling.id}/cancel`), 403, 'forbidden');
    assertStatus(await task.api.get(`/api/v1/tasks/${task.id}`), 200);
  });

  it('its outputs are built-using every input, readable by it, and listed as the task outputs', async () => {
    const task = await claimShellTask();
    const content = Buffer.from('the build result\n');
    const created = await task.api.post(`/api/v1/workspaces/${fixture.workspace}/artifacts`, {
      type: 'build-output',
      files: [declare('result.txt', content)],
      relations: [{ type: 'relates-to', target: fixture.inputs[0] }],
    });
    assertStatus(created, 201);
    const id = created.body.id as number;
    assert.deepEqual(builtUsing(created.body), fixture.inputs);
    const asSubmitter = await cast.alice.get(`/api/v1/artifacts/${id}`);
    assert.deepEqual(builtUsing(asSubmitter.body), fixture.inputs);
    assert.deepEqual(asSubmitter.body.relations, created.body.relations, 'the task sees them all');
    await uploadFile(task.api, id, 'result.txt', content);
    const read = await task.api.get(fileUrl(id, 'result.txt'));
    assertStatus(read, 200);
    assert.deepEqual(read.raw, content);
    assert.deepEqual((await getTask(cast.alice, task.id)).outputs, [id]);

    assertStatus(await task.log('built\n'), 200);
    await finish(task);
    const done = await getTask(cast.alice, task.id);
    assert.notEqual(done.log_artifact, null);
    assert.deepEqual(
      [...done.outputs].sort((a: number, b: number) => a - b),
      [id, done.log_artifact].sort((a: number, b: number) => a - b),
    );
    const log = await cast.alice.get(`/api/v1/artifacts/${done.log_artifact}`);
    assert.deepEqual(builtUsing(log.body), fixture.inputs, 'the saved log is an output too');
    assertError(await task.api.get(`/api/v1/artifacts/${id}`), 409, 'stale_attempt');
  });

  it('reads public artifacts of other workspaces, as anyone may', async () => {
    const task = await claimShellTask();
    assertStatus(await task.api.get(`/api/v1/artifacts/${fixture.bobPublicArtifact}`), 200);
  });
});
