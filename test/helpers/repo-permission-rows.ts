/**
 * The permission matrix's rows for APT repositories (the rules are in
 * permission-rules.ts). A repository lives in a workspace: reading it (its
 * description, packages, history, tree, key) follows the workspace's read
 * rule; creating one and changing its contents (each change a server-side
 * task) need write; deleting it and managing its keys are the owner's.
 */
import assert from 'node:assert/strict';
import type { ApiResponse } from './api.ts';
import type { Cast, Visibility, WorkspaceFixture } from './permission-fixtures.ts';
import { createWorkspaceFixture, freshName } from './permission-fixtures.ts';
import type { FixtureContext, Row } from './permission-cells.ts';
import type { Rule } from './permission-rules.ts';

export interface RepoFixture extends WorkspaceFixture {
  /** A repository of the owner's, published once (publication 1). */
  readonly repository: string;
}

export interface RepoContext extends FixtureContext {
  readonly fixture: RepoFixture;
}

export const ghostRepoFixture: RepoFixture = Object.freeze({
  workspace: 'ghost-workspace',
  base: 999_999_001,
  artifacts: {
    owner: { id: 999_999_002, done: ghostFile(), pending: ghostFile() },
    uploader: { id: 999_999_003, done: ghostFile(), pending: ghostFile() },
  },
  repository: 'ghost-repository',
});

function ghostFile() {
  return { path: 'ghost.txt', content: Buffer.alloc(0), sha256: '0'.repeat(64) };
}

export async function createRepoFixture(cast: Cast, visibility: Visibility): Promise<RepoFixture> {
  const fixture = await createWorkspaceFixture(cast, visibility);
  const repository = freshName('repo');
  const created = await cast
    .as('owner')
    .post(`/api/v1/workspaces/${fixture.workspace}/repositories`, {
      name: repository,
      suites: [{ codename: 'stable' }],
    });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { ...fixture, repository };
}

const ofRepository = ({ fixture }: RepoContext) => ({
  workspace: fixture.workspace,
  repository: fixture.repository,
});

const base = '/api/v1/workspaces/{workspace}/repositories/{repository}';

/** A submitted server-side task of the workspace. */
function checkTask(type: string) {
  return (response: ApiResponse, { fixture }: RepoContext) => {
    assert.equal(response.body.type, type);
    assert.equal(response.body.workspace, fixture.workspace);
  };
}

/** A change submitted as a server-side task: writers may. */
function operationRow(
  path: string,
  type: string,
  body: (context: RepoContext) => Record<string, unknown>,
): Row<RepoContext, Rule> {
  return {
    method: 'POST',
    path: `${base}/${path}`,
    rule: 'write',
    status: 201,
    call: (context) => ({ params: ofRepository(context), body: body(context) }),
    check: checkTask(type),
  };
}

export const repoRows: readonly Row<RepoContext, Rule>[] = [
  {
    method: 'GET',
    path: '/api/v1/workspaces/{workspace}/repositories',
    rule: 'read',
    status: 200,
    call: ({ fixture }) => ({ params: { workspace: fixture.workspace } }),
    check(response, { fixture }) {
      const names = (response.body.items as { name: string }[]).map((r) => r.name);
      assert.ok(names.includes(fixture.repository), names.join());
    },
  },
  {
    method: 'POST',
    path: '/api/v1/workspaces/{workspace}/repositories',
    rule: 'write',
    status: 201,
    call: ({ fixture }) => ({
      params: { workspace: fixture.workspace },
      body: { name: freshName('made'), suites: [{ codename: 'unstable' }] },
    }),
    check(response) {
      assert.equal(response.body.publication, 1);
      assert.deepEqual(
        (response.body.keys as { state: string }[]).map((k) => k.state),
        ['active'],
      );
    },
  },
  {
    method: 'GET',
    path: base,
    rule: 'read',
    status: 200,
    call: (context) => ({ params: ofRepository(context) }),
    check(response, { fixture }) {
      assert.equal(response.body.name, fixture.repository);
    },
  },
  {
    method: 'DELETE',
    path: base,
    rule: 'own',
    status: 204,
    call: (context) => ({ params: ofRepository(context) }),
  },
  {
    method: 'GET',
    path: `${base}/packages`,
    rule: 'read',
    status: 200,
    call: (context) => ({ params: ofRepository(context) }),
    check(response) {
      assert.deepEqual(response.body.items, []);
    },
  },
  {
    method: 'GET',
    path: `${base}/publications`,
    rule: 'read',
    status: 200,
    call: (context) => ({ params: ofRepository(context) }),
    check(response) {
      assert.equal(response.body.items[0].number, 1);
    },
  },
  {
    method: 'GET',
    path: `${base}/tree`,
    rule: 'read',
    status: 200,
    call: (context) => ({ params: ofRepository(context) }),
    check(response) {
      const paths = (response.body.items as { path: string }[]).map((f) => f.path);
      assert.ok(paths.includes('dists/stable/InRelease'), paths.join());
    },
  },
  {
    method: 'GET',
    path: `${base}/key`,
    rule: 'read',
    status: 200,
    call: (context) => ({ params: ofRepository(context) }),
    check(response) {
      assert.match(response.body as string, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
    },
  },
  {
    method: 'POST',
    path: `${base}/keys/rotate`,
    rule: 'own',
    status: 200,
    call: (context) => ({ params: ofRepository(context) }),
    check(response) {
      const states = (response.body.keys as { state: string }[]).map((k) => k.state);
      assert.equal(states.filter((s) => s === 'active').length, 1, states.join());
      assert.ok(states.includes('retiring'), states.join());
    },
  },
  {
    method: 'POST',
    path: `${base}/keys/retire`,
    rule: 'own',
    status: 200,
    call: (context) => ({ params: ofRepository(context) }),
    check(response) {
      assert.deepEqual(
        (response.body.keys as { state: string }[]).map((k) => k.state),
        ['active'],
      );
    },
  },
  operationRow('include', 'apt:include', ({ fixture }) => ({
    suite: 'stable',
    artifacts: [fixture.artifacts.owner.id],
  })),
  operationRow('remove', 'apt:remove', () => ({ suite: 'stable', package: 'absent' })),
  operationRow('copy', 'apt:copy', () => ({ from: 'stable', to: 'stable' })),
  operationRow('snapshot', 'apt:snapshot', () => ({ suite: 'stable', name: freshName('snap') })),
  operationRow('add-architecture', 'apt:add-architecture', () => ({
    suite: 'stable',
    architecture: 'riscv64',
  })),
  operationRow('publish', 'apt:publish', () => ({})),
  operationRow('rollback', 'apt:rollback', () => ({ publication: 1 })),
];
