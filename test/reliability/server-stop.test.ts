import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readServerSentEvents } from '../../src/client/sse.ts';
import { createCluster, startInstance, stopWithin, type Cluster } from '../helpers/cluster.ts';
import { readTaskLog, submitTask, waitForLog, waitForTask } from '../helpers/tasks.ts';
import { waitUntil } from '../helpers/waits.ts';

describe('a server stopped with SIGTERM while a client follows a running task', () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await createCluster();
  });
  after(async () => {
    await cluster.close();
  });

  it('stops, breaking the follow off (not ending it); the task finishes after a restart', async () => {
    const { server, admin, enrolmentToken } = await startInstance(cluster, { name: 'main' });
    await cluster.worker({ name: 'runner', server: server.url, token: enrolmentToken });
    // The task runs until the test creates the file `go`.
    const go = join(cluster.root, 'go');
    const task = await submitTask(admin, 'rel', {
      type: 'shell',
      input: {
        command: 'echo first; while [ ! -e "$GO" ]; do sleep 0.2; done; echo second',
        env: { GO: go },
      },
    });
    await waitForLog(admin, task.id, /^first\n$/);

    const stream = await admin.download(`/api/v1/tasks/${task.id}/log`, {
      accept: 'text/event-stream',
    });
    const follow = { events: [] as string[], over: undefined as string | undefined };
    void (async () => {
      try {
        for await (const event of readServerSentEvents(stream)) {
          follow.events.push(`${event.event} ${event.data}`);
        }
        follow.over = 'ended';
      } catch (error) {
        follow.over = `broken: ${(error as Error).message}`;
      }
    })();
    await waitUntil('the follower to get the log so far', () =>
      follow.events.includes('log "first\\n"') ? true : undefined,
    );

    // A follower of a task that runs on must not hold the stop up.
    assert.deepEqual(await stopWithin(server.process, 'SIGTERM', 30_000), {
      code: 0,
      signal: null,
    });
    const over = await waitUntil('the follow to be over', () => follow.over);
    assert.match(over, /^broken/, 'the follower sees the stream break off');
    assert.deepEqual(follow.events, ['log "first\\n"'], 'and no end event: the task runs on');

    await cluster.serve({ name: 'main', port: server.port });
    await writeFile(go, '');
    const done = await waitForTask(admin, task.id, 'completed', (t) => t.state === 'completed', {
      timeoutMs: 90_000,
    });
    assert.equal(done.result, 'success', JSON.stringify(done));
    assert.deepEqual(
      done.attempts.map((a) => [a.attempt, a.worker, a.outcome]),
      [[1, 'runner', 'success']],
      'its worker kept it through the restart',
    );
    assert.equal(await readTaskLog(admin, task.id), 'first\nsecond\n');
  });
});
