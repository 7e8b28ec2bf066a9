import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { apiAs, createUserWithToken, type Api } from '../helpers/api.ts';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

interface WorkspaceItem {
  name: string;
  public: boolean;
  role: string | null;
}

/** Creates an artifact with one uploaded file (and relations); returns its id. */
async function createArtifact(
  api: Api,
  workspace: string,
  relations: { type: string; target: number }[] = [],
): Promise<number> {
  const content = Buffer.from(`content of an artifact in ${workspace}, ${Math.random()}`);
  const sha256 = createHash('sha256').update(content).digest('hex');
  const created = await api.post(`/api/v1/workspaces/${workspace}/artifacts`, {
    type: 'test',
    files: [{ path: 'a/file.txt', size: content.length, sha256 }],
    relations,
  });
  assertStatus(created, 201);
  const id = created.body.id as number;
  const uploaded = await api.put(`/api/v1/artifacts/${id}/files/a/file.txt`, content, {
    'content-type': 'application/octet-stream',
  });
  assert.ok(uploaded.status < 300, JSON.stringify(uploaded.body));
  return id;
}

forEachDatabase((backend) => {
  let server: TestServer;
  let owner: Api;
  let other: Api;
  before(async () => {
    server = await startTestServer(backend);
    owner = apiAs(server, await createUserWithToken(server, 'olga'));
    other = apiAs(server, await createUserWithToken(server, 'oscar'));
    await createUserWithToken(server, 'gus', 'guest');
  });
  after(async () => {
    await server.close();
  });

  describe('a workspace', () => {
    it('is created, listed, shown, changed and deleted', async () => {
      const created = await owner.post('/api/v1/workspaces', { name: 'alpha' });
      assertStatus(created, 201);
      assert.deepEqual(
        { ...created.body, created_at: undefined },
        {
          name: 'alpha',
          public: false,
          default_expiration: null,
          max_running_tasks: null,
          role: 'owner',
          created_at: undefined,
        },
      );
      assert.ok(!Number.isNaN(Date.parse(created.body.created_at)));
      const beta = await owner.post('/api/v1/workspaces', {
        name: 'beta',
        public: true,
        default_expiration: 86400,
      });
      assertStatus(beta, 201);
      assert.equal(beta.body.default_expiration, 86400);

      const listed = await owner.get('/api/v1/workspaces');
      assertStatus(listed, 200);
      assert.deepEqual(
        (listed.body.items as WorkspaceItem[]).map((w) => [w.name, w.public, w.role]),
        [
          ['alpha', false, 'owner'],
          ['beta', true, 'owner'],
        ],
      );

      const changed = await owner.patch('/api/v1/workspaces/alpha', {
        public: true,
        default_expiration: 3600,
      });
      assertStatus(changed, 200);
      const shown = await owner.get('/api/v1/workspaces/alpha');
      assertStatus(shown, 200);
      assert.equal(shown.body.public, true);
      assert.equal(shown.body.default_expiration, 3600);
      assert.equal(shown.body.role, 'owner');
      const cleared = await owner.patch('/api/v1/workspaces/alpha', { default_expiration: null });
      assert.equal(cleared.body.default_expiration, null);
      assert.equal(cleared.body.public, true, 'what a change leaves out stays');

      assertStatus(await owner.delete('/api/v1/workspaces/alpha'), 204);
      assertError(await owner.get('/api/v1/workspaces/alpha'), 404, 'not_found');
      assertError(await owner.delete('/api/v1/workspaces/alpha'), 404, 'not_found');
      assertStatus(await owner.delete('/api/v1/workspaces/beta'), 204);
    });

    it('has a unique name', async () => {
      assertStatus(await owner.post('/api/v1/workspaces', { name: 'gamma' }), 201);
      assertError(await owner.post('/api/v1/workspaces', { name: 'gamma' }), 409, 'already_exists');
      assertError(await other.post('/api/v1/workspaces', { name: 'gamma' }), 409, 'already_exists');
    });

    it('refuses bad names and settings with 400', async () => {
      const bad = ['Upper', '-dash', '.dot', 'a b', 'a/b', 'x'.repeat(65), '', 'ünï', 'a?b'];
      for (const name of bad) {
        assertError(await owner.post('/api/v1/workspaces', { name }), 400, 'validation_failed');
      }
      assertStatus(await owner.post('/api/v1/workspaces', { name: 'x'.repeat(64) }), 201);
      assertError(await owner.get('/api/v1/workspaces/Upper'), 400, 'validation_failed');
      for (const body of [
        { name: 'ok-name', default_expiration: 59 },
        { name: 'ok-name', public: 'yes' },
        { name: 'ok-name', colour: 'red' },
      ]) {
        assertError(await owner.post('/api/v1/workspaces', body), 400, 'validation_failed');
      }
      assertError(await owner.get('/api/v1/workspaces/ok-name'), 404, 'not_found');
    });

    it('is created only by developers and admins', async () => {
      const guest = await apiAs(server).post('/api/v1/auth/login', {
        username: 'gus',
        password: 'gus-password-123',
      });
      const gus = apiAs(server, guest.body.token.token);
      assertError(await gus.post('/api/v1/workspaces', { name: 'gus-ws' }), 403, 'forbidden');
      assertError(
        await apiAs(server).post('/api/v1/workspaces', { name: 'anon' }),
        401,
        'unauthenticated',
      );
    });
  });

  describe('members', () => {
    before(async () => {
      assertStatus(await owner.post('/api/v1/workspaces', { name: 'team' }), 201);
    });

    const members = async () => {
      const { body } = await owner.get('/api/v1/workspaces/team/members');
      return (body.items as { username: string; role: string }[]).map((m) => [m.username, m.role]);
    };

    it('are added, changed and removed by an owner', async () => {
      assert.deepEqual(await members(), [['olga', 'owner']]);
      const added = await owner.put('/api/v1/workspaces/team/members/oscar', { role: 'viewer' });
      assertStatus(added, 200);
      assert.equal(added.body.role, 'viewer');
      assert.deepEqual(await members(), [
        ['olga', 'owner'],
        ['oscar', 'viewer'],
      ]);
      // A viewer may read, not manage members.
      assertStatus(await other.get('/api/v1/workspaces/team/members'), 200);
      assertError(
        await other.put('/api/v1/workspaces/team/members/oscar', { role: 'owner' }),
        403,
        'forbidden',
      );
      assertStatus(
        await owner.put('/api/v1/workspaces/team/members/oscar', { role: 'writer' }),
        200,
      );
      assert.deepEqual(await members(), [
        ['olga', 'owner'],
        ['oscar', 'writer'],
      ]);
      assertError(
        await owner.put('/api/v1/workspaces/team/members/oscar', { role: 'boss' }),
        400,
        'validation_failed',
      );
      assertError(
        await owner.put('/api/v1/workspaces/team/members/nobody', { role: 'viewer' }),
        404,
        'not_found',
      );
      assertStatus(await owner.delete('/api/v1/workspaces/team/members/oscar'), 204);
      assert.deepEqual(await members(), [['olga', 'owner']]);
      assertError(await owner.delete('/api/v1/workspaces/team/members/oscar'), 404, 'not_found');
      assertError(await other.get('/api/v1/workspaces/team'), 404, 'not_found');
    });

    it('keep at least one owner', async () => {
      assertError(
        await owner.put('/api/v1/workspaces/team/members/olga', { role: 'writer' }),
        409,
        'conflict',
      );
      assertError(await owner.delete('/api/v1/workspaces/team/members/olga'), 409, 'conflict');
      assert.deepEqual(await members(), [['olga', 'owner']]);

      assertStatus(
        await owner.put('/api/v1/workspaces/team/members/oscar', { role: 'owner' }),
        200,
      );
      assertStatus(
        await owner.put('/api/v1/workspaces/team/members/olga', { role: 'writer' }),
        200,
      );
      assertError(
        await other.put('/api/v1/workspaces/team/members/oscar', { role: 'viewer' }),
        409,
        'conflict',
      );
      assertError(await other.delete('/api/v1/workspaces/team/members/oscar'), 409, 'conflict');
      assertStatus(await other.delete('/api/v1/workspaces/team/members/olga'), 204);
      const left = await other.get('/api/v1/workspaces/team/members');
      assert.deepEqual(
        (left.body.items as { username: string; role: string }[]).map((m) => [m.username, m.role]),
        [['oscar', 'owner']],
      );
    });
  });

  describe('listing', () => {
    it('shows each caller the workspaces it may see, with its role', async () => {
      assertStatus(await owner.post('/api/v1/workspaces', { name: 'secret' }), 201);
      assertStatus(await owner.post('/api/v1/workspaces', { name: 'open', public: true }), 201);
      const names = (items: WorkspaceItem[]) => items.map((w) => w.name);
      const roleIn = (items: WorkspaceItem[], name: string) =>
        items.find((w) => w.name === name)?.role;

      const seenByOther: WorkspaceItem[] = (await other.get('/api/v1/workspaces')).body.items;
      assert.ok(names(seenByOther).includes('open'));
      assert.ok(!names(seenByOther).includes('secret'));
      assert.equal(roleIn(seenByOther, 'open'), null);
      for (const w of seenByOther) {
        assert.ok(w.public || w.role !== null, `${w.name} is private and not oscar's`);
      }
      assertError(await other.get('/api/v1/workspaces/secret'), 404, 'not_found');

      const seenByAnonymous: WorkspaceItem[] = (await apiAs(server).get('/api/v1/workspaces')).body
        .items;
      assert.ok(names(seenByAnonymous).includes('open'));
      assert.ok(seenByAnonymous.every((w) => w.public && w.role === null));

      assertStatus(
        await owner.put('/api/v1/workspaces/secret/members/oscar', { role: 'uploader' }),
        200,
      );
      const afterJoining: WorkspaceItem[] = (await other.get('/api/v1/workspaces')).body.items;
      assert.equal(roleIn(afterJoining, 'secret'), 'uploader');

      const seenByAdmin: WorkspaceItem[] = (
        await apiAs(server, server.adminToken).get('/api/v1/workspaces')
      ).body.items;
      const all = await server.database.db.selectFrom('workspaces').select('name').execute();
      assert.deepEqual(names(seenByAdmin).sort(), all.map((w) => w.name).sort());
      assert.equal(roleIn(seenByAdmin, 'secret'), null);
    });
  });

  describe('deleting a workspace', () => {
    it('deletes its artifacts, with their files and relations', async () => {
      assertStatus(await owner.post('/api/v1/workspaces', { name: 'doomed' }), 201);
      const first = await createArtifact(owner, 'doomed');
      const second = await createArtifact(owner, 'doomed', [
        { type: 'built-using', target: first },
      ]);
      assertStatus(await owner.get(`/api/v1/artifacts/${second}`), 200);

      assertStatus(await owner.delete('/api/v1/workspaces/doomed'), 204);
      for (const id of [first, second]) {
        assertError(await owner.get(`/api/v1/artifacts/${id}`), 404, 'not_found');
      }
      const db = server.database.db;
      const ids = [first, second];
      assert.equal((await db.selectFrom('artifacts').where('id', 'in', ids).execute()).length, 0);
      const files = await db.selectFrom('artifact_files').where('artifact_id', 'in', ids).execute();
      assert.equal(files.length, 0);
      const relations = await db
        .selectFrom('artifact_relations')
        .where('artifact_id', 'in', ids)
        .execute();
      assert.equal(relations.length, 0);
    });

    it('is refused while another workspace’s artifact refers to its artifacts', async () => {
      assertStatus(await owner.post('/api/v1/workspaces', { name: 'base' }), 201);
      assertStatus(await owner.post('/api/v1/workspaces', { name: 'derived' }), 201);
      const base = await createArtifact(owner, 'base');
      const derived = await createArtifact(owner, 'derived', [
        { type: 'built-using', target: base },
      ]);

      assertError(await owner.delete('/api/v1/workspaces/base'), 409, 'workspace_in_use');
      assertStatus(await owner.get('/api/v1/workspaces/base'), 200);
      const kept = await owner.get(`/api/v1/artifacts/${base}`);
      assertStatus(kept, 200);
      assert.equal(kept.body.files[0]?.complete, true);

      assertStatus(await owner.delete('/api/v1/workspaces/derived'), 204);
      assertError(await owner.get(`/api/v1/artifacts/${derived}`), 404, 'not_found');
      assertStatus(await owner.delete('/api/v1/workspaces/base'), 204);
      assertError(await owner.get(`/api/v1/artifacts/${base}`), 404, 'not_found');
    });
  });
});
