/**
 * Run events as outbound webhooks, over a real socket: a subscription to
 * `run.started` and `run.ended` gets both for a `pipeline` run, signed, and
 * nothing for the run's task (it did not subscribe to `task.ended`).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  createSchedulerCast,
  createTaskWorkspace,
  enrolWorker,
  finish,
  type SchedulerCast,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitUntil } from '../helpers/waits.ts';
import { assertSigned, startWebhookReceiver } from '../helpers/webhook-receiver.ts';
import { registerTemplate, startRun, waitForRunEnd } from '../helpers/workflows.ts';

interface RunEvent {
  readonly event: string;
  readonly workspace: string;
  readonly run: { id: number; template: string; status: string; result: string | null };
  readonly data: Record<string, unknown>;
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

  test('a pipeline run POSTs run.started and run.ended, signed', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const workspace = await createTaskWorkspace(cast.alice, 'run-hooked');
      const created = await cast.alice.post(`/api/v1/workspaces/${workspace}/webhooks`, {
        url: receiver.url,
        events: ['run.started', 'run.ended'],
      });
      assertStatus(created, 201);
      const { secret } = created.body as { secret: string };
      await registerTemplate(cast.alice, workspace, {
        name: 'ci',
        workflow: 'pipeline',
        parameters: { steps: [{ name: 'build', command: 'true' }] },
      });
      const run = await startRun(cast.alice, workspace, 'ci');
      const worker = await enrolWorker(server, `run-hook-worker-${backend.name}`);
      await finish(await worker.claimOrFail(20));
      assert.equal((await waitForRunEnd(cast.alice, run.id)).result, 'success');

      await waitUntil('both deliveries', () => (receiver.received.length >= 2 ? true : undefined));
      const events = receiver.received
        .map((request) => {
          const payload = assertSigned(request, secret) as RunEvent;
          assert.equal(request.headers['x-kiln-event'], payload.event);
          return payload;
        })
        .sort((a, b) => a.event.localeCompare(b.event));
      assert.deepEqual(
        events.map((e) => [e.event, e.workspace, e.run.id, e.run.template]),
        [
          ['run.ended', workspace, run.id, 'ci'],
          ['run.started', workspace, run.id, 'ci'],
        ],
      );
      const [ended, started] = events;
      assert.deepEqual([ended?.data.status, ended?.data.result], ['completed', 'success']);
      assert.equal(started?.data.workflow, 'pipeline');
      assert.equal(receiver.received.length, 2, 'no task.ended: it was not subscribed to');
    } finally {
      await receiver.close();
    }
  });
});
