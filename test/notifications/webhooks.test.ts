/**
 * Outbound webhooks end to end over a real socket: a task ends, its
 * workspace's subscribers get a signed POST, a failed delivery is retried with
 * backoff, and the history shows every attempt's status. Only owners manage
 * webhooks; a private workspace's answer a stranger 404.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { apiAs, type Api } from '../helpers/api.ts';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  createSchedulerCast,
  createTaskWorkspace,
  enrolWorker,
  finish,
  submitTask,
  type SchedulerCast,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { waitUntil } from '../helpers/waits.ts';
import { assertSigned, startWebhookReceiver } from '../helpers/webhook-receiver.ts';

interface Delivery {
  readonly state: string;
  readonly next_attempt_at: string | null;
  readonly attempts: readonly { status_code: number | null; error: string | null }[];
}

interface TaskEnded {
  readonly event: string;
  readonly workspace: string;
  readonly task: { id: number; state: string; result: string };
}

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  before(async () => {
    server = await startTestServer(backend, { 'webhook-retry': '1' });
    cast = await createSchedulerCast(server);
  });
  after(async () => {
    await server.close();
  });

  const hooks = (workspace: string) => `/api/v1/workspaces/${workspace}/webhooks`;

  async function deliveries(workspace: string, id: number): Promise<Delivery[]> {
    const response = await cast.alice.get(`${hooks(workspace)}/${id}/deliveries`);
    assertStatus(response, 200);
    return response.body.items as Delivery[];
  }

  async function subscribe(api: Api, workspace: string, url: string, events: string[]) {
    const created = await api.post(hooks(workspace), { url, events });
    assertStatus(created, 201);
    return created.body as { id: number; secret: string };
  }

  test('a task end is POSTed signed; a 500 is retried; the history shows both statuses', async () => {
    const receiver = await startWebhookReceiver([500, 200]);
    try {
      const workspace = await createTaskWorkspace(cast.alice, 'hooked');
      const other = await createTaskWorkspace(cast.alice, 'unhooked');
      const webhook = await subscribe(cast.alice, workspace, receiver.url, ['task.ended']);
      await subscribe(cast.alice, other, receiver.url, ['task.ended']);
      const listed = await cast.alice.get(hooks(workspace));
      assertStatus(listed, 200);
      assert.equal(listed.body.items.length, 1);
      assert.equal(listed.body.items[0].secret, undefined, 'the secret is shown once only');

      const task = await submitTask(cast.alice, workspace);
      const worker = await enrolWorker(server, `webhook-worker-${backend.name}`);
      await finish(await worker.claimOrFail());

      await waitUntil('the retry', () => (receiver.received.length >= 2 ? true : undefined));
      for (const request of receiver.received) {
        assert.equal(request.headers['x-kiln-event'], 'task.ended');
        const payload = assertSigned(request, webhook.secret) as TaskEnded;
        assert.equal(payload.event, 'task.ended');
        assert.equal(payload.workspace, workspace);
        assert.deepEqual(
          [payload.task.id, payload.task.state, payload.task.result],
          [task.id, 'completed', 'success'],
        );
      }
      const history = await waitUntil('the delivery recorded as delivered', async () => {
        const items = await deliveries(workspace, webhook.id);
        return items[0]?.state === 'delivered' ? items : undefined;
      });
      assert.equal(history.length, 1);
      assert.deepEqual(
        history[0]?.attempts.map((a) => a.status_code),
        [500, 200],
      );
      assert.equal(receiver.received.length, 2, 'the other workspace heard nothing');
    } finally {
      await receiver.close();
    }
  });

  test('an unreachable receiver is recorded with the error and tried again', async () => {
    const receiver = await startWebhookReceiver();
    const url = receiver.url;
    await receiver.close();
    const workspace = await createTaskWorkspace(cast.alice, 'unreachable');
    const webhook = await subscribe(cast.alice, workspace, url, ['task.ended']);
    const worker = await enrolWorker(server, `unreachable-worker-${backend.name}`);
    await submitTask(cast.alice, workspace);
    await finish(await worker.claimOrFail(), 'failure');
    const delivery = await waitUntil('two failed attempts', async () => {
      const [first] = await deliveries(workspace, webhook.id);
      return first !== undefined && first.attempts.length >= 2 ? first : undefined;
    });
    assert.equal(delivery.state, 'pending');
    const [first] = delivery.attempts;
    assert.ok(first);
    assert.equal(first.status_code, null);
    assert.match(first.error ?? '', /ECONNREFUSED|connect/);
    assert.ok(delivery.next_attempt_at !== null);
  });

  test('only owners manage webhooks; a stranger gets 404; bad input creates nothing', async () => {
    const workspace = await createTaskWorkspace(cast.alice, 'guarded', {
      members: { bob: 'writer' },
    });
    const body = { url: 'http://127.0.0.1:1/x', events: ['task.ended'] };
    assertError(await cast.bob.post(hooks(workspace), body), 403, 'forbidden');
    assertError(await cast.bob.get(hooks(workspace)), 403, 'forbidden');
    const stranger = await createTaskWorkspace(cast.bob, 'private-of-bob');
    assertError(await cast.alice.post(hooks(stranger), body), 404, 'not_found');
    assertError(await cast.alice.get(hooks(stranger)), 404, 'not_found');
    assertError(await apiAs(server).get(hooks(workspace)), 404, 'not_found');
    for (const bad of [
      { url: 'ftp://x/y', events: ['task.ended'] },
      { url: 'http://x/y', events: ['task.exploded'] },
      { url: 'http://x/y', events: [] },
    ]) {
      assertError(await cast.alice.post(hooks(workspace), bad), 400, 'validation_failed');
    }
    const listed = await cast.alice.get(hooks(workspace));
    assert.deepEqual(listed.body.items, []);
    assertError(await cast.alice.get(`${hooks(workspace)}/999999/deliveries`), 404, 'not_found');
  });
});
