/**
 * The permission matrix's rows for workflow templates and runs (the rules are
 * in permission-rules.ts; README's "Workflows"). Owners register and remove
 * templates; uploaders and above start runs; readers see templates, runs and
 * their events; a run's starter may cancel or retry it if still an uploader,
 * anyone else needs write. The built-in workflows' list is anyone's.
 */
import assert from 'node:assert/strict';
import type { ApiResponse } from './api.ts';
import {
  createWorkspaceFixture,
  expectStatus,
  freshName,
  ghostFixture,
  type Cast,
  type Creator,
  type Visibility,
  type WorkspaceFixture,
} from './permission-fixtures.ts';
import type { FixtureContext, InstanceContext, Row } from './permission-cells.ts';
import type { Rule } from './permission-rules.ts';

/**
 * A workspace fixture with a `pipeline` template (its one step fixed), a run of
 * it started by each creator (pending: no worker runs its task), a git trigger
 * and a webhook, all made by the owner.
 */
export interface WorkflowFixture extends WorkspaceFixture {
  readonly template: string;
  readonly runs: Readonly<Record<Creator, number>>;
  readonly trigger: { readonly name: string; readonly id: number; readonly secret: string };
  readonly webhook: number;
}

export interface WorkflowContext extends FixtureContext {
  readonly fixture: WorkflowFixture;
}

export const ghostWorkflowFixture: WorkflowFixture = Object.freeze({
  ...ghostFixture,
  template: 'ghost-template',
  runs: { owner: 999_999_004, uploader: 999_999_005 },
  trigger: { name: 'ghost-trigger', id: 999_999_006, secret: 'kiln_h_ghost' },
  webhook: 999_999_007,
});

/** Fixed steps, so that a run needs no run-time parameter. */
export const pipelineParameters = Object.freeze({ steps: [{ name: 'hello', command: 'true' }] });

export async function createWorkflowFixture(
  cast: Cast,
  visibility: Visibility,
): Promise<WorkflowFixture> {
  const fixture = await createWorkspaceFixture(cast, visibility);
  const owner = cast.as('owner');
  const workspace = `/api/v1/workspaces/${fixture.workspace}`;
  const template = freshName('template');
  await expectStatus(
    owner.post(`${workspace}/workflows`, {
      name: template,
      workflow: 'pipeline',
      parameters: pipelineParameters,
    }),
    201,
  );
  const start = async (creator: Creator) => {
    const run = await expectStatus(cast.as(creator).post(`${workspace}/runs`, { template }), 201);
    return run.body.id as number;
  };
  const trigger = await expectStatus(
    owner.post(`${workspace}/triggers`, {
      name: freshName('trigger'),
      kind: 'git',
      template,
      refs: ['refs/heads/*'],
      repository_url: 'https://git.example.org/hello.git',
    }),
    201,
  );
  const webhook = await expectStatus(
    owner.post(`${workspace}/webhooks`, {
      url: 'http://127.0.0.1:9/hook',
      events: ['task.ended'],
    }),
    201,
  );
  return {
    ...fixture,
    template,
    runs: { owner: await start('owner'), uploader: await start('uploader') },
    trigger: {
      name: trigger.body.name as string,
      id: trigger.body.id as number,
      secret: trigger.body.secret as string,
    },
    webhook: webhook.body.id as number,
  };
}

const ofWorkspace = ({ fixture }: WorkflowContext) => ({ workspace: fixture.workspace });

function checkRun(creator: Creator) {
  return (response: ApiResponse, { fixture }: WorkflowContext) => {
    assert.equal(response.body.id, fixture.runs[creator]);
    assert.equal(response.body.workspace, fixture.workspace);
  };
}

/** Cancel or retry a creator's run: its starter while an uploader, or a writer. */
function changeRunRows(action: 'cancel' | 'retry'): Row<WorkflowContext, Rule>[] {
  return (['owner', 'uploader'] as const).map((creator) => ({
    method: 'POST',
    path: `/api/v1/runs/{id}/${action}`,
    does: `${creator}'s run`,
    rule: creator === 'uploader' ? 'change-own' : 'write',
    status: 200,
    call: ({ fixture }) => ({ params: { id: fixture.runs[creator] } }),
    check: checkRun(creator),
  }));
}

/** The rows outside any workspace. */
export const workflowInstanceRows: readonly Row<InstanceContext, Rule>[] = [
  {
    method: 'GET',
    path: '/api/v1/workflows',
    rule: 'anyone',
    status: 200,
    call: () => ({}),
    check(response) {
      const names = (response.body as { name: string }[]).map((w) => w.name);
      assert.ok(names.includes('pipeline'), names.join());
    },
  },
];

export const workflowRows: readonly Row<WorkflowContext, Rule>[] = [
  {
    method: 'POST',
    path: '/api/v1/workspaces/{workspace}/workflows',
    rule: 'own',
    status: 201,
    call: (context) => ({
      params: ofWorkspace(context),
      body: { name: freshName('made'), workflow: 'pipeline', parameters: pipelineParameters },
    }),
    check(response, { fixture }) {
      assert.equal(response.body.workspace, fixture.workspace);
    },
  },
  {
    method: 'GET',
    path: '/api/v1/workspaces/{workspace}/workflows',
    rule: 'read',
    status: 200,
    call: (context) => ({ params: ofWorkspace(context) }),
    check(response, { fixture }) {
      const names = (response.body as { name: string }[]).map((t) => t.name);
      assert.ok(names.includes(fixture.template), names.join());
    },
  },
  {
    method: 'DELETE',
    path: '/api/v1/workspaces/{workspace}/workflows/{name}',
    rule: 'own',
    status: 204,
    call: (context) => ({ params: { ...ofWorkspace(context), name: context.fixture.template } }),
  },
  {
    method: 'POST',
    path: '/api/v1/workspaces/{workspace}/runs',
    rule: 'upload',
    status: 201,
    call: (context) => ({
      params: ofWorkspace(context),
      body: { template: context.fixture.template },
    }),
    check(response, { fixture }) {
      assert.equal(response.body.template, fixture.template);
      assert.equal(response.body.status, 'running');
    },
  },
  {
    method: 'GET',
    path: '/api/v1/workspaces/{workspace}/runs',
    rule: 'read',
    status: 200,
    call: (context) => ({ params: ofWorkspace(context) }),
    check(response, { fixture }) {
      const ids = (response.body.items as { id: number }[]).map((r) => r.id);
      assert.ok(ids.includes(fixture.runs.owner) && ids.includes(fixture.runs.uploader));
    },
  },
  {
    method: 'GET',
    path: '/api/v1/runs/{id}',
    rule: 'read',
    status: 200,
    call: ({ fixture }) => ({ params: { id: fixture.runs.owner } }),
    check: checkRun('owner'),
  },
  {
    method: 'GET',
    path: '/api/v1/runs/{id}/events',
    rule: 'read',
    status: 200,
    call: ({ fixture }) => ({ params: { id: fixture.runs.owner } }),
    check(response) {
      const kinds = (response.body as { kind: string }[]).map((e) => e.kind);
      assert.ok(kinds.includes('run-started'), kinds.join());
    },
  },
  ...changeRunRows('cancel'),
  ...changeRunRows('retry'),
];
