import assert from 'node:assert/strict';
import { after, afterEach, before, it } from 'node:test';
import { fileUrl } from '../helpers/artifacts.ts';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { openEventStream, type ServerEvent } from '../helpers/event-stream.ts';
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

/** The text the `log` events carry, each event's data being a JSON string. */
function logText(events: readonly ServerEvent[]): string {
  return events
    .filter((e) => e.event === 'log')
    .map((e) => JSON.parse(e.data) as string)
    .join('');
}

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  let workspace: string;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createSchedulerCast(server);
    workspace = await createTaskWorkspace(cast.alice, 'logs');
  });
  after(async () => {
    await server.close();
  });
  afterEach(async () => {
    await resetScheduler(server);
  });

  async function runningTask(): Promise<ClaimedTask> {
    const task = await submitTask(cast.alice, workspace);
    const worker = await enrolWorker(server, uniqueName('logs'));
    const claimed = await worker.claimOrFail(1);
    assert.equal(claimed.id, task.id);
    return claimed;
  }

  /** The saved log artifact's type and file content. */
  async function savedLog(id: number): Promise<{ type: string; text: string }> {
    const task = await getTask(cast.alice, id);
    assert.notEqual(task.log_artifact, null, 'the log was saved');
    const artifact = await cast.alice.get(`/api/v1/artifacts/${task.log_artifact}`);
    assertStatus(artifact, 200);
    const file = await cast.alice.get(fileUrl(task.log_artifact as number, 'log.txt'));
    assertStatus(file, 200);
    return { type: artifact.body.type as string, text: file.raw.toString('utf8') };
  }

  it('chunks posted with the task token are the log, in order, while it runs and after', async () => {
    const task = await runningTask();
    const chunks = ['configure\n', 'make\n', 'make install\n'];
    for (const [i, chunk] of chunks.entries()) {
      const posted = await task.log(chunk);
      assertStatus(posted, 200);
      assert.deepEqual(posted.body, { cancel: false });
      const log = await cast.alice.get(`/api/v1/tasks/${task.id}/log`);
      assertStatus(log, 200);
      assert.match(String(log.headers['content-type']), /^text\/plain/);
      assert.equal(log.raw.toString('utf8'), chunks.slice(0, i + 1).join(''));
    }
    await finish(task);
    const log = await cast.alice.get(`/api/v1/tasks/${task.id}/log`);
    assert.equal(log.raw.toString('utf8'), chunks.join(''));
    assert.deepEqual(await savedLog(task.id), { type: 'task-log', text: chunks.join('') });
  });

  it('only the task token of the task appends to its log, and strangers cannot read it', async () => {
    const task = await runningTask();
    assertError(
      await cast.alice.call('POST', `/api/v1/tasks/${task.id}/log`, 'forged\n', {
        'content-type': 'text/plain',
      }),
      403,
      'forbidden',
    );
    assertError(await cast.bob.get(`/api/v1/tasks/${task.id}/log`), 404, 'not_found');
    const log = await cast.alice.get(`/api/v1/tasks/${task.id}/log`);
    assert.equal(log.raw.toString('utf8'), '');
  });

  it('a follower over a real socket gets each chunk as it is posted, then end; the saved log is the same text', async () => {
    const task = await runningTask();
    const stream = openEventStream(server, `/api/v1/tasks/${task.id}/log`, cast.tokens.alice);
    try {
      // Not ASCII, so that byte and character counts differ when the saved log takes over.
      const chunks = ['first line\n', 'zweite Zeile – ü ✓\n', 'line "three"\n'];
      for (const [i, chunk] of chunks.entries()) {
        assertStatus(await task.log(chunk), 200);
        const events = await stream.waitForEvents(i + 1);
        assert.deepEqual(events[i], { event: 'log', data: JSON.stringify(chunk) });
      }
      assert.equal(await stream.status, 200);
      assert.match(String((await stream.headers)['content-type']), /^text\/event-stream/);
      await finish(task);
      await stream.waitForEnd();
      const events = stream.events;
      assert.deepEqual(events.at(-1), { event: 'end', data: '{}' });
      assert.deepEqual(
        events.slice(0, -1).map((e) => e.event),
        chunks.map(() => 'log'),
        'nothing is sent twice when the saved log takes over',
      );
      const streamed = logText(events);
      assert.equal(streamed, chunks.join(''));
      assert.deepEqual(await savedLog(task.id), { type: 'task-log', text: streamed });
    } finally {
      stream.close();
    }
  });

  it('a follower that comes after the end gets the saved log, then end', async () => {
    const task = await runningTask();
    assertStatus(await task.log('all done\n'), 200);
    await finish(task, 'failure');
    const stream = openEventStream(server, `/api/v1/tasks/${task.id}/log`, cast.tokens.alice);
    try {
      await stream.waitForEnd();
      assert.deepEqual(stream.events, [
        { event: 'log', data: JSON.stringify('all done\n') },
        { event: 'end', data: '{}' },
      ]);
    } finally {
      stream.close();
    }
  });

  it("a task's log holds every attempt, a line marking where each later one starts", async () => {
    const first = await runningTask();
    assertStatus(await first.log('attempt one\n'), 200);
    assertStatus(await cast.alice.post(`/api/v1/tasks/${first.id}/retry`), 200);
    const worker = await enrolWorker(server, uniqueName('logs'));
    const second = await worker.claimOrFail(1);
    assert.equal(second.attempt, 2);
    assertStatus(await second.log('attempt two\n'), 200);
    await finish(second);
    const expected = 'attempt one\n--- kiln: attempt 2 ---\nattempt two\n';
    assert.equal((await savedLog(first.id)).text, expected);
    const log = await cast.alice.get(`/api/v1/tasks/${first.id}/log`);
    assert.equal(log.raw.toString('utf8'), expected);
  });

  it('a task that wrote nothing has no log artifact and an empty log', async () => {
    const task = await runningTask();
    await finish(task);
    const done = await getTask(cast.alice, task.id);
    assert.equal(done.log_artifact, null);
    const log = await cast.alice.get(`/api/v1/tasks/${task.id}/log`);
    assertStatus(log, 200);
    assert.equal(log.raw.length, 0);
  });
});
