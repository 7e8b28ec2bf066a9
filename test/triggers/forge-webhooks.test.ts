/**
 * Forge webhooks over real HTTP: a GitHub-style delivery with a good signature
 * starts a run of the trigger's template; a bad signature, a replay (same
 * delivery id, or same payload under a new id) or a stale one is refused and
 * starts nothing. Ref filters, pull-request comment commands and GitLab's
 * token are checked as well.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Api } from '../helpers/api.ts';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  githubHeaders,
  githubPullComment,
  githubPush,
  sendDelivery,
  type ForgeDelivery,
} from '../helpers/forge.ts';
import {
  createSchedulerCast,
  createTaskWorkspace,
  type SchedulerCast,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const commit = 'c0ffee'.padEnd(40, '0');
const cloneUrl = 'https://github.com/o/r.git';

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

  async function workspaceWithTemplate(prefix: string, members: Record<string, string> = {}) {
    const workspace = await createTaskWorkspace(cast.alice, prefix, { members });
    assertStatus(
      await cast.alice.post(`/api/v1/workspaces/${workspace}/workflows`, {
        name: 'ci',
        workflow: 'pipeline',
        parameters: { steps: [{ name: 'build', command: 'true' }] },
      }),
      201,
    );
    return workspace;
  }

  async function createTrigger(api: Api, workspace: string, body: object) {
    const created = await api.post(`/api/v1/workspaces/${workspace}/triggers`, body);
    assertStatus(created, 201);
    return created.body as { id: number; secret: string; hook_url: string };
  }

  async function runsOf(workspace: string) {
    const response = await cast.alice.get(`/api/v1/workspaces/${workspace}/runs`);
    assertStatus(response, 200);
    return response.body.items as {
      id: number;
      trigger: { kind: string; details: Record<string, unknown> };
    }[];
  }

  test('a signed GitHub push starts one run; bad, replayed and stale ones start nothing', async () => {
    const workspace = await workspaceWithTemplate('github');
    const trigger = await createTrigger(cast.alice, workspace, {
      name: 'gh',
      kind: 'github',
      template: 'ci',
      refs: ['refs/heads/main', 'refs/tags/v*'],
    });
    const body = githubPush('refs/heads/main', commit, cloneUrl);
    const headers = githubHeaders(trigger.secret, 'push', body);
    const good = await sendDelivery(trigger.hook_url, body, headers);
    assert.equal(good.status, 200, JSON.stringify(good.body));
    assert.equal(good.body.runs.length, 1);
    const runs = await runsOf(workspace);
    assert.equal(runs.length, 1);
    const [run] = runs;
    assert.ok(run);
    assert.equal(run.id, good.body.runs[0].id);
    assert.equal(run.trigger.kind, 'webhook');
    assert.deepEqual(
      [run.trigger.details['ref'], run.trigger.details['commit']],
      ['refs/heads/main', commit],
    );

    const refusals: [string, Promise<ForgeDelivery>, number, string][] = [
      [
        'the same delivery again',
        sendDelivery(trigger.hook_url, body, headers),
        409,
        'replayed_delivery',
      ],
      [
        'the same payload under a new delivery id',
        sendDelivery(trigger.hook_url, body, githubHeaders(trigger.secret, 'push', body)),
        409,
        'replayed_delivery',
      ],
      [
        'a signature made with another secret',
        sendDelivery(
          trigger.hook_url,
          githubPush('refs/heads/main', 'b'.repeat(40), cloneUrl),
          githubHeaders('not-the-secret', 'push', body),
        ),
        401,
        'invalid_signature',
      ],
      [
        'a changed body under the old signature',
        sendDelivery(
          trigger.hook_url,
          body.replace('main', 'evil'),
          githubHeaders(trigger.secret, 'push', body),
        ),
        401,
        'invalid_signature',
      ],
      [
        'a push signed an hour ago',
        (() => {
          const old = githubPush(
            'refs/heads/main',
            'd'.repeat(40),
            cloneUrl,
            Math.floor(Date.now() / 1000) - 3600,
          );
          return sendDelivery(trigger.hook_url, old, githubHeaders(trigger.secret, 'push', old));
        })(),
        409,
        'stale_delivery',
      ],
      [
        'a trigger that does not exist',
        sendDelivery(trigger.hook_url.replace(/\d+$/, '999999'), body, headers),
        401,
        'invalid_signature',
      ],
    ];
    for (const [what, sent, status, code] of refusals) {
      const response = await sent;
      assert.equal(response.status, status, `${what}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.error.code, code, what);
    }
    const other = githubPush('refs/heads/feature', 'e'.repeat(40), cloneUrl);
    const ignored = await sendDelivery(
      trigger.hook_url,
      other,
      githubHeaders(trigger.secret, 'push', other),
    );
    assert.equal(ignored.status, 200);
    assert.deepEqual(ignored.body.runs, []);
    assert.match(ignored.body.ignored[0], /no ref filter/);
    assert.equal((await runsOf(workspace)).length, 1, 'only the good delivery started a run');

    const deliveries = await cast.alice.get(
      `/api/v1/workspaces/${workspace}/triggers/gh/deliveries`,
    );
    assertStatus(deliveries, 200);
    assert.deepEqual(
      (deliveries.body.items as { outcome: string }[]).map((d) => d.outcome),
      ['ignored', 'started'],
    );
  });

  test("a pull-request comment command from a collaborator starts a run; a stranger's does not", async () => {
    const workspace = await workspaceWithTemplate('comments');
    const trigger = await createTrigger(cast.alice, workspace, {
      name: 'gh',
      kind: 'github',
      template: 'ci',
      refs: ['refs/heads/main'],
      command: '/kiln build',
    });
    const send = (text: string, association: string) => {
      const body = githubPullComment(7, text, association);
      return sendDelivery(
        trigger.hook_url,
        body,
        githubHeaders(trigger.secret, 'issue_comment', body),
      );
    };
    const stranger = await send('/kiln build', 'NONE');
    assert.deepEqual(stranger.body.runs, []);
    const chatter = await send('looks good', 'OWNER');
    assert.deepEqual(chatter.body.runs, []);
    const member = await send('/kiln build', 'COLLABORATOR');
    assert.equal(member.body.runs.length, 1);
    assert.equal(member.body.runs[0].ref, 'refs/pull/7/head');
    assert.equal((await runsOf(workspace)).length, 1);
  });

  test('GitLab: the token header is the secret', async () => {
    const workspace = await workspaceWithTemplate('gitlab');
    const trigger = await createTrigger(cast.alice, workspace, {
      name: 'gl',
      kind: 'gitlab',
      template: 'ci',
      refs: ['refs/tags/*'],
    });
    const body = JSON.stringify({
      object_kind: 'tag_push',
      ref: 'refs/tags/v1.2',
      after: commit,
      project: { git_http_url: 'https://gitlab.example/g/p.git' },
    });
    const send = (token: string, uuid: string) =>
      sendDelivery(trigger.hook_url, body, {
        'x-gitlab-event': 'Tag Push Hook',
        'x-gitlab-token': token,
        'x-gitlab-event-uuid': uuid,
      });
    const wrong = await send(`${trigger.secret}x`, 'u-1');
    assert.equal(wrong.status, 401);
    const right = await send(trigger.secret, 'u-2');
    assert.equal(right.status, 200, JSON.stringify(right.body));
    assert.equal(right.body.runs.length, 1);
    assert.equal((await runsOf(workspace)).length, 1);
  });

  test('only owners create triggers; a stranger gets 404; bad input creates nothing', async () => {
    const workspace = await workspaceWithTemplate('guarded', { bob: 'writer' });
    const triggers = `/api/v1/workspaces/${workspace}/triggers`;
    const body = { name: 't', kind: 'github', template: 'ci', refs: ['refs/heads/main'] };
    assertError(await cast.bob.post(triggers, body), 403, 'forbidden');
    const strangers = await createTaskWorkspace(cast.bob, 'bobs');
    assertError(
      await cast.alice.post(`/api/v1/workspaces/${strangers}/triggers`, body),
      404,
      'not_found',
    );
    assertError(await cast.alice.get(`/api/v1/workspaces/${strangers}/triggers`), 404, 'not_found');
    for (const [bad, code] of [
      [{ ...body, refs: ['main'] }, 'validation_failed'],
      [{ ...body, template: 'nope' }, 'validation_failed'],
      [{ ...body, kind: 'git' }, 'validation_failed'],
      [{ ...body, kind: 'svn' }, 'validation_failed'],
      [{ ...body, kind: 'gitlab', command: '/kiln build' }, 'validation_failed'],
    ] as const) {
      assertError(await cast.alice.post(triggers, bad), 400, code);
    }
    assert.deepEqual((await cast.alice.get(triggers)).body.items, []);
    await createTrigger(cast.alice, workspace, body);
    assertError(await cast.alice.post(triggers, body), 409, 'already_exists');
    const listed = await cast.bob.get(triggers);
    assert.equal(listed.body.items.length, 1);
    assert.equal(listed.body.items[0].secret, undefined, 'the secret is never shown again');
    assertError(await cast.bob.call('DELETE', `${triggers}/t`), 403, 'forbidden');
    assertStatus(await cast.alice.call('DELETE', `${triggers}/t`), 204);
  });
});
