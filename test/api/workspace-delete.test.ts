import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import { forEachDatabase } from '../helpers/databases.ts';
import { createCast, createWorkspaceFixture, type Cast } from '../helpers/permission-fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

forEachDatabase((backend) => {
  let server: TestServer;
  let cast: Cast;
  before(async () => {
    server = await startTestServer(backend);
    cast = await createCast(server);
  });
  after(async () => {
    await server.close();
  });

  it('deletes a workspace whose artifacts refer to each other', async () => {
    const { workspace, artifacts } = await createWorkspaceFixture(cast, 'private');
    const owner = cast.as('owner');
    assert.equal((await owner.delete(`/api/v1/workspaces/${workspace}`)).status, 204);
    assert.equal((await owner.get(`/api/v1/workspaces/${workspace}`)).status, 404);
    assert.equal((await owner.get(`/api/v1/artifacts/${artifacts.owner.id}`)).status, 404);
    // An artifact's files have no foreign key (migration 0017): a trigger deletes them.
    const { rows } = await sql<{ orphans: number }>`
      select count(*)::int as orphans from artifact_files f
      where not exists (select 1 from artifacts a where a.id = f.artifact_id)`.execute(
      server.database.db,
    );
    assert.equal(rows[0]?.orphans, 0);
  });

  it("deletes an artifact's files with it", async () => {
    const { artifacts } = await createWorkspaceFixture(cast, 'public');
    const owner = cast.as('owner');
    const id = artifacts.owner.id;
    const files = () =>
      server.database.db
        .selectFrom('artifact_files')
        .select('path')
        .where('artifact_id', '=', id)
        .execute();
    assert.notEqual((await files()).length, 0);
    assert.equal((await owner.delete(`/api/v1/artifacts/${id}`)).status, 204);
    assert.deepEqual(await files(), []);
  });

  it('keeps a workspace, untouched, while another workspace refers to it', async () => {
    const used = await createWorkspaceFixture(cast, 'public');
    const user = await createWorkspaceFixture(cast, 'public');
    const owner = cast.as('owner');
    const relation = { type: 'built-using', target: used.base };
    const related = await owner.post(`/api/v1/artifacts/${user.base}/relations`, relation);
    assert.equal(related.status, 201);
    const refused = await owner.delete(`/api/v1/workspaces/${used.workspace}`);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'workspace_in_use');
    const artifact = await owner.get(`/api/v1/artifacts/${used.artifacts.owner.id}`);
    assert.deepEqual(artifact.body.relations, [{ type: 'relates-to', target: used.base }]);
  });
});
