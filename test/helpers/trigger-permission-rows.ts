/**
 * The permission matrix's rows for triggers, outbound webhooks and the hook
 * endpoint (README's "Triggers and notifications"). Owners create and delete
 * triggers and webhooks and read their deliveries; readers see triggers (not
 * their secrets); a workspace's webhooks are its owners' alone. The hook
 * endpoint ignores who calls: the trigger's own token decides (`signed`).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Row } from './permission-cells.ts';
import { freshName } from './permission-fixtures.ts';
import type { Rule } from './permission-rules.ts';
import type { WorkflowContext } from './workflow-permission-rows.ts';

const triggers = '/api/v1/workspaces/{workspace}/triggers';
const webhooks = '/api/v1/workspaces/{workspace}/webhooks';

const ofWorkspace = ({ fixture }: WorkflowContext) => ({ workspace: fixture.workspace });
const ofTrigger = (context: WorkflowContext) => ({
  ...ofWorkspace(context),
  trigger: context.fixture.trigger.name,
});
const ofWebhook = (context: WorkflowContext) => ({
  ...ofWorkspace(context),
  id: context.fixture.webhook,
});

/** A git hook's post-receive lines: one new branch at a commit no other call pushed. */
function pushedRefs(): string {
  return `${'0'.repeat(40)} ${randomBytes(20).toString('hex')} refs/heads/main\n`;
}

export const triggerRows: readonly Row<WorkflowContext, Rule>[] = [
  {
    method: 'GET',
    path: triggers,
    rule: 'read',
    status: 200,
    call: (context) => ({ params: ofWorkspace(context) }),
    check(response, { fixture }) {
      const items = response.body.items as Record<string, unknown>[];
      assert.deepEqual(
        items.map((t) => t.name),
        [fixture.trigger.name],
      );
      assert.ok(!('secret' in items[0]!), 'a listed trigger shows no secret');
    },
  },
  {
    method: 'POST',
    path: triggers,
    rule: 'own',
    status: 201,
    call: (context) => ({
      params: ofWorkspace(context),
      body: {
        name: freshName('made'),
        kind: 'github',
        template: context.fixture.template,
        refs: ['refs/tags/*'],
      },
    }),
    check(response) {
      assert.equal(typeof response.body.secret, 'string');
    },
  },
  {
    method: 'GET',
    path: `${triggers}/{trigger}`,
    rule: 'read',
    status: 200,
    call: (context) => ({ params: ofTrigger(context) }),
    check(response, { fixture }) {
      assert.equal(response.body.id, fixture.trigger.id);
      assert.equal(response.body.secret, undefined);
    },
  },
  {
    method: 'DELETE',
    path: `${triggers}/{trigger}`,
    rule: 'own',
    status: 204,
    call: (context) => ({ params: ofTrigger(context) }),
  },
  {
    method: 'GET',
    path: `${triggers}/{trigger}/deliveries`,
    rule: 'own',
    status: 200,
    call: (context) => ({ params: ofTrigger(context) }),
    check(response) {
      assert.ok(Array.isArray(response.body.items));
    },
  },
  {
    method: 'GET',
    path: webhooks,
    rule: 'own',
    status: 200,
    call: (context) => ({ params: ofWorkspace(context) }),
    check(response, { fixture }) {
      const items = response.body.items as { id: number }[];
      assert.deepEqual(
        items.map((w) => w.id),
        [fixture.webhook],
      );
    },
  },
  {
    method: 'POST',
    path: webhooks,
    rule: 'own',
    status: 201,
    call: (context) => ({
      params: ofWorkspace(context),
      body: { url: 'http://127.0.0.1:9/made', events: ['task.ended'] },
    }),
    check(response) {
      assert.match(response.body.secret as string, /^kiln_whsec_/);
    },
  },
  {
    method: 'DELETE',
    path: `${webhooks}/{id}`,
    rule: 'own',
    status: 204,
    call: (context) => ({ params: ofWebhook(context) }),
  },
  {
    method: 'GET',
    path: `${webhooks}/{id}/deliveries`,
    rule: 'own',
    status: 200,
    call: (context) => ({ params: ofWebhook(context) }),
    check(response) {
      assert.ok(Array.isArray(response.body.items));
    },
  },
  {
    method: 'POST',
    path: '/api/v1/hooks/{id}',
    does: "without the trigger's token",
    rule: 'signed',
    status: 200,
    call: ({ fixture }) => ({
      params: { id: fixture.trigger.id },
      body: pushedRefs(),
      headers: { 'content-type': 'text/plain', 'x-kiln-hook-token': 'kiln_h_wrong' },
    }),
  },
  {
    method: 'POST',
    path: '/api/v1/hooks/{id}',
    does: "with the trigger's token",
    rule: 'anyone',
    status: 200,
    call: ({ fixture }) => ({
      params: { id: fixture.trigger.id },
      body: pushedRefs(),
      headers: { 'content-type': 'text/plain', 'x-kiln-hook-token': fixture.trigger.secret },
    }),
    check(response) {
      const runs = response.body.runs as { ref: string }[];
      assert.deepEqual(
        runs.map((r) => r.ref),
        ['refs/heads/main'],
      );
    },
  },
];
