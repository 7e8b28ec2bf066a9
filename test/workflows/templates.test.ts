import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { createUserWithToken, apiAs, type Api } from '../helpers/api.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  createSchedulerCast,
  createTaskWorkspace,
  type SchedulerCast,
} from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { registerTemplate, startRun } from '../helpers/workflows.ts';

const steps = { steps: [{ name: 'only', command: 'true' }] };

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: SchedulerCast;
  let carol: Api;
  let workspace: string;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createSchedulerCast(server);
    carol = apiAs(server, await createUserWithToken(server, 'carol'));
    workspace = await createTaskWorkspace(cast.alice, 'tpl', {
      members: { bob: 'viewer', carol: 'writer' },
    });
  });
  after(async () => {
    await server.close();
  });

  async function counts(): Promise<{ runs: number; tasks: number; templates: number }> {
    const { rows } = await sql<{ runs: number; tasks: number; templates: number }>`
      select (select count(*)::int from workflow_runs) as runs,
        (select count(*)::int from tasks) as tasks,
        (select count(*)::int from workflow_templates) as templates`.execute(server.database.db);
    assert.ok(rows[0]);
    return rows[0];
  }

  it('only owners register templates; writers and viewers may not', async () => {
    const body = { name: 'by-writer', workflow: 'pipeline', parameters: steps };
    assertError(
      await carol.post(`/api/v1/workspaces/${workspace}/workflows`, body),
      403,
      'forbidden',
    );
    assertError(
      await cast.bob.post(`/api/v1/workspaces/${workspace}/workflows`, body),
      403,
      'forbidden',
    );
    await registerTemplate(cast.alice, workspace, { ...body, name: 'by-owner' });
    const listed = await cast.bob.get(`/api/v1/workspaces/${workspace}/workflows`);
    assertStatus(listed, 200);
    assert.deepEqual(
      (listed.body as { name: string }[]).map((t) => t.name),
      ['by-owner'],
    );
    assertError(
      await cast.alice.post(`/api/v1/workspaces/${workspace}/workflows`, {
        ...body,
        name: 'by-owner',
      }),
      409,
      'already_exists',
    );
  });

  it('viewers cannot start runs; writers can', async () => {
    await registerTemplate(cast.alice, workspace, {
      name: 'start-me',
      workflow: 'pipeline',
      parameters: steps,
    });
    const before = await counts();
    assertError(
      await cast.bob.post(`/api/v1/workspaces/${workspace}/runs`, { template: 'start-me' }),
      403,
      'forbidden',
    );
    assert.deepEqual(await counts(), before, 'a refused start creates nothing');
    const run = await startRun(carol, workspace, 'start-me');
    assert.equal(run.created_by, 'carol');
    assert.equal(run.tasks.length, 1);
  });

  it('a private workspace is not found for non-members, exactly as one that does not exist', async () => {
    const outsider = apiAs(server, await createUserWithToken(server, `dave-${Date.now()}`));
    await registerTemplate(cast.alice, workspace, {
      name: 'hidden',
      workflow: 'pipeline',
      parameters: steps,
    });
    const run = await startRun(cast.alice, workspace, 'hidden');
    for (const response of [
      await outsider.get(`/api/v1/workspaces/${workspace}/workflows`),
      await outsider.get(`/api/v1/workspaces/${workspace}/runs`),
      await outsider.post(`/api/v1/workspaces/${workspace}/runs`, { template: 'hidden' }),
      await outsider.post(`/api/v1/workspaces/${workspace}/workflows`, {
        name: 'x',
        workflow: 'pipeline',
      }),
      await outsider.get(`/api/v1/runs/${run.id}`),
      await outsider.post(`/api/v1/runs/${run.id}/cancel`),
      await outsider.get(`/api/v1/runs/${run.id}/events`),
    ]) {
      assertError(response, 404, 'not_found');
    }
    const absent = await outsider.get(`/api/v1/runs/999999999`);
    assertError(absent, 404, 'not_found');
  });

  it('bad parameters: one clear error, and nothing is created', async () => {
    await registerTemplate(cast.alice, workspace, {
      name: 'fixed',
      workflow: 'pipeline',
      parameters: steps,
    });
    await registerTemplate(cast.alice, workspace, { name: 'open', workflow: 'pipeline' });
    const before = await counts();
    const cases: [object, number, string, RegExp][] = [
      [{ template: 'no-such' }, 404, 'not_found', /workflow template no-such not found/],
      [
        { template: 'fixed', parameters: { steps: [] } },
        400,
        'invalid_workflow_parameters',
        /template fixed fixes steps: a run cannot change it/,
      ],
      [{ template: 'open' }, 400, 'invalid_workflow_parameters', /parameters of pipeline: .*steps/],
      [
        {
          template: 'open',
          parameters: { steps: [{ name: 'a', command: 'true', depends_on: ['b'] }] },
        },
        400,
        'invalid_workflow_parameters',
        /step a depends on b, which is not an earlier step/,
      ],
      [
        { template: 'open', parameters: { steps: [{ name: 'a', comand: 'true' }] } },
        400,
        'invalid_workflow_parameters',
        /parameters of pipeline: \/steps\/0/,
      ],
    ];
    for (const [body, status, code, message] of cases) {
      const response = await cast.alice.post(`/api/v1/workspaces/${workspace}/runs`, body);
      assertError(response, status, code);
      assert.match(response.body.error.message, message);
    }
    const unknown = await cast.alice.post(`/api/v1/workspaces/${workspace}/workflows`, {
      name: 'nope',
      workflow: 'no-such-workflow',
    });
    assertError(unknown, 400, 'unknown_workflow');
    const badFixed = await cast.alice.post(`/api/v1/workspaces/${workspace}/workflows`, {
      name: 'nope',
      workflow: 'debian-pipeline',
      parameters: { repo: 'x' },
    });
    assertError(badFixed, 400, 'invalid_workflow_parameters');
    assert.match(badFixed.body.error.message, /\/repo is not a parameter/);
    const noRepository = await cast.alice.post(`/api/v1/workspaces/${workspace}/workflows`, {
      name: 'deb',
      workflow: 'debian-pipeline',
      parameters: { repository: 'missing', suite: 'bookworm' },
    });
    assertStatus(noRepository, 201);
    const started = await cast.alice.post(`/api/v1/workspaces/${workspace}/runs`, {
      template: 'deb',
      parameters: { url: 'file:///nowhere', ref: 'main' },
    });
    assertError(started, 400, 'invalid_workflow_parameters');
    assert.equal(started.body.error.message, 'repository missing not found in the workspace');
    const after = await counts();
    assert.deepEqual({ ...after, templates: before.templates }, before);
  });
});
