/**
 * Token scopes and token life, beside the permission matrix: a token grants at
 * most its scopes (`read` only reads, `admin` is needed for administration),
 * and an expired or revoked token is refused, never taken for anonymous.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { apiAs, type Api, type ApiResponse } from '../helpers/api.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import {
  createCast,
  createWorkspaceFixture,
  expectStatus,
  type ActorName,
  type Cast,
  type WorkspaceFixture,
} from '../helpers/permission-fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

function assertError(response: ApiResponse, status: number, code: string): void {
  assert.deepEqual(
    { status: response.status, code: response.body?.error?.code },
    { status, code },
    JSON.stringify(response.body),
  );
}

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: Cast;
  let fixture: WorkspaceFixture;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createCast(server);
    fixture = await createWorkspaceFixture(cast, 'public');
  });
  after(async () => {
    await server.close();
  });

  /** A new token of the actor's user, made with its full token. */
  async function tokenOf(actor: ActorName, body: object): Promise<{ id: number; api: Api }> {
    const created = await expectStatus(
      cast.as(actor).post('/api/v1/tokens', { name: 'scoped', ...body }),
      201,
    );
    return { id: created.body.id as number, api: apiAs(server, created.body.token as string) };
  }

  it('lets a read-only token read but not write what its user may write', async () => {
    const { api } = await tokenOf('writer', { scopes: ['read'] });
    const artifact = `/api/v1/artifacts/${fixture.artifacts.owner.id}`;
    assert.equal((await api.get(artifact)).status, 200);
    assertError(await api.patch(artifact, { data: { a: 1 } }), 403, 'insufficient_scope');
    const artifacts = `/api/v1/workspaces/${fixture.workspace}/artifacts`;
    assertError(await api.post(artifacts, { type: 'example' }), 403, 'insufficient_scope');
    // The same user's full token may do both.
    assert.equal((await cast.as('writer').patch(artifact, { data: { a: 1 } })).status, 200);
    assert.equal((await cast.as('writer').post(artifacts, { type: 'example' })).status, 201);
  });

  it('keeps a read-only token from creating workspaces, tokens or passwords', async () => {
    const { api } = await tokenOf('non-member', { scopes: ['read'] });
    assertError(await api.post('/api/v1/workspaces', { name: 'ro' }), 403, 'insufficient_scope');
    assertError(await api.post('/api/v1/tokens', { name: 'more' }), 403, 'insufficient_scope');
    assertError(
      await api.post('/api/v1/tokens', { name: 'more', scopes: ['read', 'write'] }),
      403,
      'insufficient_scope',
    );
    // Else a leaked read-only token could set the password and log in with all scopes.
    assertError(
      await api.put('/api/v1/me/password', { password: 'taken-over' }),
      403,
      'insufficient_scope',
    );
    assert.equal((await api.get('/api/v1/me')).status, 200);
  });

  it('keeps a token from granting scopes its user does not have', async () => {
    assertError(
      await cast.as('owner').post('/api/v1/tokens', { name: 'x', scopes: ['admin'] }),
      403,
      'insufficient_scope',
    );
  });

  it("refuses admin endpoints to an admin's token without the admin scope", async () => {
    const { api } = await tokenOf('admin', { scopes: ['read', 'write'] });
    assertError(await api.get('/api/v1/users'), 403, 'insufficient_scope');
    assertError(await api.post('/api/v1/users', { username: 'nope' }), 403, 'insufficient_scope');
    assertError(await api.delete('/api/v1/users/guest'), 403, 'insufficient_scope');
    assertError(await api.post('/api/v1/admin/gc'), 403, 'insufficient_scope');
    assert.equal((await cast.as('admin').get('/api/v1/users')).status, 200);
  });

  it('refuses an expired token, even where anonymous callers may read', async () => {
    const { id, api } = await tokenOf('viewer', { expires_in: 60 });
    assert.equal((await api.get('/api/v1/me')).status, 200);
    await server.database.db
      .updateTable('tokens')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', id)
      .execute();
    assertError(await api.get('/api/v1/me'), 401, 'token_expired');
    assertError(await api.get(`/api/v1/workspaces/${fixture.workspace}`), 401, 'token_expired');
  });

  it('refuses a revoked token, even where anonymous callers may read', async () => {
    const { id, api } = await tokenOf('viewer', {});
    assert.equal((await api.get('/api/v1/me')).status, 200);
    assert.equal((await cast.as('viewer').delete(`/api/v1/tokens/${id}`)).status, 204);
    assertError(await api.get('/api/v1/me'), 401, 'unauthenticated');
    assertError(await api.get(`/api/v1/workspaces/${fixture.workspace}`), 401, 'unauthenticated');
  });

  it('refuses a token it never issued', async () => {
    const api = apiAs(server, 'kiln_p_not-a-token');
    assertError(await api.get('/api/v1/health'), 401, 'unauthenticated');
  });
});
