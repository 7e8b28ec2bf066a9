import assert from 'node:assert/strict';
import { after, afterEach, before, it } from 'node:test';
import type { RunEvent } from '../../src/protocol/workflows.schema.ts';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { waitUntil } from '../helpers/waits.ts';
import {
  createSchedulerCast,
  createTaskWorkspace,
  enrolWorker,
  finish,
  resetScheduler,
  type SchedulerCast,
  type SimulatedWorker,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import {
  getRun,
  registerTemplate,
  startRun,
  stepStates,
  waitForRunEnd,
} from '../helpers/workflows.ts';

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  let workspace: string;
  let worker: SimulatedWorker;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createSchedulerCast(server);
    workspace = await createTaskWorkspace(cast.alice, 'runs', { members: { bob: 'viewer' } });
    await registerTemplate(cast.alice, workspace, {
      name: 'two-steps',
      workflow: 'pipeline',
      parameters: {
        steps: [
          { name: 'first', command: 'true' },
          { name: 'second', command: 'true', depends_on: ['first'] },
        ],
      },
      max_retries: 1,
    });
  });
  afterEach(async () => {
    await resetScheduler(server);
  });
  after(async () => {
    await server.close();
  });

  async function claimAndFinish(result: 'success' | 'failure' | 'error'): Promise<number> {
    const task = await worker.claimOrFail(10);
    await finish(task, result);
    return task.id;
  }

  it('runs steps in dependency order and completes with success, telling listeners', async () => {
    worker = await enrolWorker(server, `w-${Date.now()}`);
    const heard: RunEvent[] = [];
    const unsubscribe = server.workflowEvents.subscribe((event) => heard.push(event));
    const run = await startRun(cast.alice, workspace, 'two-steps');
    assert.equal(run.status, 'running');
    assert.deepEqual(stepStates(run), { first: 'pending/-', second: 'blocked/-' });
    await claimAndFinish('success');
    await claimAndFinish('success');
    const ended = await waitForRunEnd(cast.alice, run.id);
    assert.equal(ended.status, 'completed');
    assert.equal(ended.result, 'success');
    assert.deepEqual(ended.failed_tasks, []);
    const events = await cast.bob.get(`/api/v1/runs/${run.id}/events`);
    assertStatus(events, 200);
    const kinds = (events.body as RunEvent[]).map(
      (e) =>
        `${e.kind}:${JSON.stringify(e.data['step'] ?? e.data['result'] ?? '').replaceAll('"', '')}`,
    );
    assert.deepEqual(kinds, [
      'run-started:',
      'task-ended:first',
      'task-ended:second',
      'run-ended:success',
    ]);
    await waitUntil('the listener to hear the run end', () =>
      heard.some((e) => e.run === run.id && e.kind === 'run-ended') ? true : undefined,
    );
    unsubscribe();
    assert.deepEqual(
      heard.filter((e) => e.run === run.id).map((e) => e.kind),
      ['run-started', 'task-ended', 'task-ended', 'run-ended'],
    );
  });

  it('cancel aborts a run and cancels its tasks; retry runs them again', async () => {
    worker = await enrolWorker(server, `w-${Date.now()}`);
    const run = await startRun(cast.alice, workspace, 'two-steps');
    assertError(await cast.bob.post(`/api/v1/runs/${run.id}/cancel`), 403, 'forbidden');
    const cancelled = await cast.alice.post(`/api/v1/runs/${run.id}/cancel`);
    assertStatus(cancelled, 200);
    assert.equal(cancelled.body.status, 'aborted');
    assert.equal(cancelled.body.result, 'neutral');
    assert.deepEqual(stepStates(cancelled.body), { first: 'cancelled/-', second: 'cancelled/-' });
    const retried = await cast.alice.post(`/api/v1/runs/${run.id}/retry`);
    assertStatus(retried, 200);
    assert.equal(retried.body.status, 'running');
    assert.deepEqual(stepStates(retried.body), { first: 'pending/-', second: 'blocked/-' });
    await claimAndFinish('success');
    await claimAndFinish('success');
    assert.equal((await waitForRunEnd(cast.alice, run.id)).result, 'success');
  });

  it('a new debian-pipeline run for the same package and suite supersedes a running one', async () => {
    assertStatus(
      await cast.alice.post(`/api/v1/workspaces/${workspace}/repositories`, {
        name: 'main',
        suites: [{ codename: 'bookworm', suite: 'stable', architectures: ['amd64'] }],
      }),
      201,
    );
    await registerTemplate(cast.alice, workspace, {
      name: 'deb',
      workflow: 'debian-pipeline',
      parameters: { repository: 'main', suite: 'bookworm' },
    });
    const older = await startRun(cast.alice, workspace, 'deb', { url: 'file:///srv/a', ref: 'v1' });
    const other = await startRun(cast.alice, workspace, 'deb', { url: 'file:///srv/b', ref: 'v1' });
    const newer = await startRun(cast.alice, workspace, 'deb', { url: 'file:///srv/a', ref: 'v2' });
    assert.deepEqual(stepStates(newer), { source: 'pending/-' });
    const superseded = await getRun(cast.alice, older.id);
    assert.equal(superseded.status, 'aborted');
    assert.equal(superseded.superseded_by, newer.id);
    assert.equal(superseded.message, `superseded by run ${newer.id}`);
    assert.deepEqual(stepStates(superseded), { source: 'cancelled/-' });
    assert.equal(
      (await getRun(cast.alice, other.id)).status,
      'running',
      'another package is left alone',
    );
  });

  it('reports failure and names the task that failed', async () => {
    worker = await enrolWorker(server, `w-${Date.now()}`);
    const run = await startRun(cast.alice, workspace, 'two-steps');
    const first = await claimAndFinish('failure');
    const ended = await waitForRunEnd(cast.alice, run.id);
    assert.equal(ended.result, 'failure');
    assert.deepEqual(ended.failed_tasks, [first]);
    assert.match(ended.message, new RegExp(`first \\(task ${first}\\) failed`));
    assert.deepEqual(stepStates(ended), {
      first: 'completed/failure',
      second: 'completed/failure',
    });
  });

  it('retries an errored task by policy, then reports error', async () => {
    worker = await enrolWorker(server, `w-${Date.now()}`);
    const run = await startRun(cast.alice, workspace, 'two-steps');
    const first = await claimAndFinish('error');
    // max_retries 1: the engine puts it back once...
    assert.equal(await claimAndFinish('error'), first);
    const ended = await waitForRunEnd(cast.alice, run.id);
    assert.equal(ended.result, 'error');
    assert.equal(ended.tasks[0].retries, 1);
    assert.equal((await getRun(cast.alice, run.id)).status, 'completed');
  });
});
