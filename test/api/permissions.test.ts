/**
 * The permission matrix: every API operation × every kind of caller × a public
 * and a private workspace, each cell asserting the status and the error code.
 * The rules are a table in ../helpers/permission-rules.ts, written
 * independently of the server's own access checks, so that the two can
 * disagree. The rows of tasks and workers are in
 * ../helpers/task-permission-rows.ts and run in task-permissions.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { onOneDatabase } from '../helpers/databases.ts';
import {
  instanceCells,
  titleOf,
  visibilityCells,
  type ArtifactContext,
  type InstanceContext,
  type Row,
  type WorkspaceContext,
} from '../helpers/permission-cells.ts';
import {
  createCast,
  createWorkspaceFixture,
  declaration,
  expectStatus,
  freshName,
  freshUser,
  ghostFixture,
  loginUser,
  newFile,
  type ActorName,
  type Cast,
  type Creator,
  type Visibility,
  type WorkspaceFixture,
} from '../helpers/permission-fixtures.ts';
import { seesPrivate, type Rule } from '../helpers/permission-rules.ts';
import { repoRows } from '../helpers/repo-permission-rows.ts';
import { triggerRows } from '../helpers/trigger-permission-rows.ts';
import { workflowInstanceRows, workflowRows } from '../helpers/workflow-permission-rows.ts';
import { taskRows, taskWorkspaceRows, workerRows } from '../helpers/task-permission-rows.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// ---------------------------------------------------------------------------
// The operations
// ---------------------------------------------------------------------------

const instanceRows: readonly Row<InstanceContext, Rule>[] = [
  { method: 'GET', path: '/api/v1/health', rule: 'anyone', status: 200, call: () => ({}) },
  {
    method: 'POST',
    path: '/api/v1/auth/login',
    rule: 'anyone',
    status: 200,
    call: () => ({ body: loginUser }),
  },
  { method: 'GET', path: '/api/v1/me', rule: 'user', status: 200, call: () => ({}) },
  {
    method: 'PUT',
    path: '/api/v1/me/password',
    rule: 'user',
    status: 204,
    call: () => ({ body: { password: 'another-password' } }),
  },
  { method: 'GET', path: '/api/v1/tokens', rule: 'user', status: 200, call: () => ({}) },
  {
    method: 'POST',
    path: '/api/v1/tokens',
    rule: 'user',
    status: 201,
    call: () => ({ body: { name: 'matrix' } }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/tokens/{id}',
    does: 'revoke own token',
    rule: 'user',
    status: 204,
    call: async ({ cast, actor }) => {
      const holder = actor === 'anonymous' ? 'non-member' : actor;
      const token = await expectStatus(cast.as(holder).post('/api/v1/tokens', { name: 'x' }), 201);
      return { params: { id: token.body.id as number } };
    },
  },
  { method: 'GET', path: '/api/v1/users', rule: 'admin', status: 200, call: () => ({}) },
  {
    method: 'POST',
    path: '/api/v1/users',
    rule: 'admin',
    status: 201,
    call: () => ({ body: { username: freshName('new-user'), role: 'guest' } }),
  },
  {
    method: 'PATCH',
    path: '/api/v1/users/{username}',
    rule: 'admin',
    status: 200,
    call: async ({ cast }) => ({
      params: { username: await freshUser(cast) },
      body: { role: 'guest' },
    }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/users/{username}',
    rule: 'admin',
    status: 204,
    call: async ({ cast }) => ({ params: { username: await freshUser(cast) } }),
  },
  {
    method: 'POST',
    path: '/api/v1/workspaces',
    rule: 'developer',
    status: 201,
    call: () => ({ body: { name: freshName('new-workspace') } }),
  },
  { method: 'POST', path: '/api/v1/admin/gc', rule: 'admin', status: 200, call: () => ({}) },
];

const inWorkspace = ({ fixture }: WorkspaceContext) => ({ workspace: fixture.workspace });

const workspaceRows: readonly Row<WorkspaceContext, Rule>[] = [
  {
    method: 'GET',
    path: '/api/v1/workspaces',
    rule: 'anyone',
    status: 200,
    call: () => ({}),
    check(response, { fixture, actor, visibility }) {
      const names = (response.body.items as { name: string }[]).map((w) => w.name);
      const listed = visibility === 'public' || seesPrivate.includes(actor);
      assert.equal(names.includes(fixture.workspace), listed, `listed: ${names.join(', ')}`);
    },
  },
  ...(['GET', 'PATCH', 'DELETE'] as const).map((method) => ({
    method,
    path: '/api/v1/workspaces/{workspace}',
    rule: method === 'GET' ? ('read' as const) : ('own' as const),
    status: method === 'DELETE' ? 204 : 200,
    call: (context: WorkspaceContext) => ({
      params: inWorkspace(context),
      ...(method === 'PATCH' ? { body: { default_expiration: 3600 } } : {}),
    }),
  })),
  {
    method: 'GET',
    path: '/api/v1/workspaces/{workspace}/members',
    rule: 'read',
    status: 200,
    call: (context) => ({ params: inWorkspace(context) }),
  },
  {
    method: 'PUT',
    path: '/api/v1/workspaces/{workspace}/members/{username}',
    rule: 'own',
    status: 200,
    call: (context) => ({
      params: { ...inWorkspace(context), username: 'viewer' },
      body: { role: 'writer' },
    }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/workspaces/{workspace}/members/{username}',
    rule: 'own',
    status: 204,
    call: (context) => ({ params: { ...inWorkspace(context), username: 'viewer' } }),
  },
  {
    method: 'GET',
    path: '/api/v1/workspaces/{workspace}/artifacts',
    rule: 'read',
    status: 200,
    call: (context) => ({ params: inWorkspace(context) }),
  },
  {
    method: 'POST',
    path: '/api/v1/workspaces/{workspace}/artifacts',
    rule: 'upload',
    status: 201,
    call: (context) => ({ params: inWorkspace(context), body: { type: 'example' } }),
  },
];

const ofArtifact = ({ artifact }: ArtifactContext) => ({ id: artifact.id });
const doneFile = ({ artifact }: ArtifactContext) => ({ id: artifact.id, '*': artifact.done.path });

/** Artifact rows: `change` is `change-own` for the uploader's artifact, else `write`. */
const artifactRows: readonly Row<ArtifactContext, 'read' | 'change'>[] = [
  {
    method: 'GET',
    path: '/api/v1/artifacts/{id}',
    rule: 'read',
    status: 200,
    call: (context) => ({ params: ofArtifact(context) }),
  },
  {
    method: 'PATCH',
    path: '/api/v1/artifacts/{id}',
    does: 'set data',
    rule: 'change',
    status: 200,
    call: (context) => ({ params: ofArtifact(context), body: { data: { changed: true } } }),
  },
  {
    method: 'PATCH',
    path: '/api/v1/artifacts/{id}',
    does: 'make immutable',
    rule: 'change',
    status: 200,
    async prepare({ cast, artifact }) {
      // Only an artifact whose files are all uploaded can be made immutable.
      const path = `/api/v1/artifacts/${artifact.id}/files/${artifact.pending.path}`;
      await expectStatus(cast.as('owner').delete(path), 204);
    },
    call: (context) => ({ params: ofArtifact(context), body: { immutable: true } }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/artifacts/{id}',
    rule: 'change',
    status: 204,
    call: (context) => ({ params: ofArtifact(context) }),
  },
  {
    method: 'POST',
    path: '/api/v1/artifacts/{id}/files',
    rule: 'change',
    status: 201,
    call: (context) => ({ params: ofArtifact(context), body: declaration(newFile('new.txt')) }),
  },
  {
    method: 'GET',
    path: '/api/v1/artifacts/{id}/files/{*}',
    rule: 'read',
    status: 200,
    call: (context) => ({ params: doneFile(context) }),
    check(response, { artifact }) {
      assert.deepEqual(response.raw, artifact.done.content);
    },
  },
  {
    method: 'PUT',
    path: '/api/v1/artifacts/{id}/files/{*}',
    does: 'upload a declared file',
    rule: 'change',
    status: 200,
    call: ({ artifact }) => ({
      params: { id: artifact.id, '*': artifact.pending.path },
      body: artifact.pending.content,
      headers: { 'content-type': 'application/octet-stream' },
    }),
  },
  {
    method: 'PUT',
    path: '/api/v1/artifacts/{id}/content',
    does: 'upload every incomplete file at once',
    rule: 'change',
    status: 200,
    call: ({ artifact }) => ({
      params: { id: artifact.id },
      body: artifact.pending.content,
      headers: { 'content-type': 'application/octet-stream' },
    }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/artifacts/{id}/files/{*}',
    rule: 'change',
    status: 204,
    call: (context) => ({ params: doneFile(context) }),
  },
  {
    method: 'POST',
    path: '/api/v1/artifacts/{id}/relations',
    rule: 'change',
    status: 201,
    call: (context) => ({
      params: ofArtifact(context),
      body: { type: 'built-using', target: context.fixture.base },
    }),
  },
  {
    method: 'DELETE',
    path: '/api/v1/artifacts/{id}/relations/{type}/{target}',
    rule: 'change',
    status: 204,
    call: (context) => ({
      params: { ...ofArtifact(context), type: 'relates-to', target: context.fixture.base },
    }),
  },
];

// ---------------------------------------------------------------------------
// Running the cells
// ---------------------------------------------------------------------------

const creators: readonly Creator[] = ['uploader', 'owner'];

onOneDatabase((backend) => {
  let server: TestServer;
  let cast: Cast;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createCast(server);
  });
  after(async () => {
    await server.close();
  });

  it('has a row for every operation of the OpenAPI document, and no other', async () => {
    const document = await cast.as('anonymous').get('/api/v1/openapi.json');
    assert.equal(document.status, 200);
    const documented = Object.entries(document.body.paths as Record<string, object>).flatMap(
      ([path, operations]) => Object.keys(operations).map((m) => `${m.toUpperCase()} ${path}`),
    );
    // The rows of tasks and workers run in task-permissions.test.ts, of repositories in
    // repo-permissions.test.ts, of workflows, runs, triggers and webhooks in workflow-permissions.test.ts.
    const rows = [
      ...instanceRows,
      ...workspaceRows,
      ...artifactRows,
      ...taskWorkspaceRows,
      ...taskRows,
      ...workerRows,
      ...repoRows,
      ...workflowInstanceRows,
      ...workflowRows,
      ...triggerRows,
    ];
    const covered = new Set(rows.map((row) => `${row.method} ${row.path}`));
    const missing = documented.filter((operation) => !covered.has(operation));
    assert.deepEqual(missing, [], 'operations without permission rows');
    const unknown = [...covered].filter((operation) => !documented.includes(operation));
    assert.deepEqual(unknown, [], 'rows for operations the server does not document');
  });

  for (const row of instanceRows) {
    describe(titleOf(row), () => {
      instanceCells(row, () => cast);
    });
  }

  // A GET changes nothing, so its cells share one fixture per visibility.
  const readFixtures = new Map<Visibility, Promise<WorkspaceFixture>>();
  const fixtureFor = ({ method }: { readonly method: string }, visibility: Visibility) => {
    if (method !== 'GET') {
      return createWorkspaceFixture(cast, visibility);
    }
    const fixture = readFixtures.get(visibility) ?? createWorkspaceFixture(cast, visibility);
    readFixtures.set(visibility, fixture);
    return fixture;
  };
  const inFixture = (fixture: WorkspaceFixture, actor: ActorName, visibility: Visibility) => ({
    cast,
    actor,
    fixture,
    visibility,
  });

  for (const row of workspaceRows) {
    describe(titleOf(row), () => {
      visibilityCells(row, row.rule, '', {
        fixtureFor,
        ghost: ghostFixture,
        contextOf: inFixture,
      });
    });
  }

  for (const row of artifactRows) {
    describe(titleOf(row), () => {
      for (const creator of creators) {
        const rule = row.rule === 'read' ? 'read' : creator === 'uploader' ? 'change-own' : 'write';
        visibilityCells(row, rule, `, ${creator}'s artifact`, {
          fixtureFor,
          ghost: ghostFixture,
          contextOf: (fixture, actor, visibility) => ({
            ...inFixture(fixture, actor, visibility),
            artifact: fixture.artifacts[creator],
          }),
        });
      }
    });
  }
});
