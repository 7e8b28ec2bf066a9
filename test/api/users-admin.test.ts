import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { parseServerConfig } from '../../src/server/config.ts';
import { startServer } from '../../src/server/main.ts';
import { apiAs, createUserWithToken } from '../helpers/api.ts';
import { assertError, assertStatus } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { childEnv, startKiln } from '../helpers/processes.ts';
import { createFreshSchema } from '../helpers/schemas.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const tokenLine = /Its token \(shown once\):\n {2}(kiln_p_\S+)\n/;

forEachDatabase((backend) => {
  describe('user management', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend);
    });
    after(async () => {
      await server.close();
    });

    it('lets an admin create, change and delete users', async () => {
      const admin = apiAs(server, server.adminToken);
      const created = await admin.post('/api/v1/users', {
        username: 'bob',
        role: 'guest',
        password: 'bob-first-pw',
      });
      assertStatus(created, 201);
      assert.deepEqual(
        { ...created.body, created_at: undefined },
        { username: 'bob', role: 'guest', has_password: true, created_at: undefined },
      );
      assertError(await admin.post('/api/v1/users', { username: 'bob' }), 409, 'already_exists');
      assertError(
        await admin.post('/api/v1/users', { username: 'Bob!' }),
        400,
        'validation_failed',
      );
      assertError(
        await admin.post('/api/v1/users', { username: 'short', password: '1234567' }),
        400,
        'validation_failed',
      );

      const listed = await admin.get('/api/v1/users');
      assertStatus(listed, 200);
      assert.deepEqual(
        (listed.body.items as { username: string; role: string }[]).map((u) => [
          u.username,
          u.role,
        ]),
        [
          ['admin', 'admin'],
          ['bob', 'guest'],
        ],
      );

      const promoted = await admin.patch('/api/v1/users/bob', { role: 'developer' });
      assertStatus(promoted, 200);
      assert.equal(promoted.body.role, 'developer');
      const row = await server.database.db
        .selectFrom('users')
        .select('role')
        .where('username', '=', 'bob')
        .executeTakeFirst();
      assert.equal(row?.role, 'developer');

      const anonymous = apiAs(server);
      const oldLogin = await anonymous.post('/api/v1/auth/login', {
        username: 'bob',
        password: 'bob-first-pw',
      });
      assertStatus(oldLogin, 200);
      assertStatus(await admin.patch('/api/v1/users/bob', { password: 'bob-second-pw' }), 200);
      assertError(
        await anonymous.post('/api/v1/auth/login', { username: 'bob', password: 'bob-first-pw' }),
        401,
        'invalid_credentials',
      );
      const newLogin = await anonymous.post('/api/v1/auth/login', {
        username: 'bob',
        password: 'bob-second-pw',
      });
      assertStatus(newLogin, 200);
      assert.deepEqual(newLogin.body.token.scopes, ['read', 'write']);

      assertStatus(await admin.delete('/api/v1/users/bob'), 204);
      assertError(
        await apiAs(server, newLogin.body.token.token).get('/api/v1/me'),
        401,
        'unauthenticated',
      );
      assertError(
        await anonymous.post('/api/v1/auth/login', { username: 'bob', password: 'bob-second-pw' }),
        401,
        'invalid_credentials',
      );
      assertError(await admin.delete('/api/v1/users/bob'), 404, 'not_found');
      assertError(await admin.patch('/api/v1/users/bob', { role: 'guest' }), 404, 'not_found');
    });

    it('lets only admins manage users', async () => {
      const dev = apiAs(server, await createUserWithToken(server, 'devon'));
      assertError(await dev.get('/api/v1/users'), 403, 'forbidden');
      assertError(await dev.post('/api/v1/users', { username: 'mallory' }), 403, 'forbidden');
      assertError(await dev.patch('/api/v1/users/devon', { role: 'admin' }), 403, 'forbidden');
      assertError(await dev.delete('/api/v1/users/admin'), 403, 'forbidden');
      assertError(await apiAs(server).get('/api/v1/users'), 401, 'unauthenticated');
      const me = await dev.get('/api/v1/me');
      assert.equal(me.body.user.role, 'developer');
    });
  });

  describe('the last admin', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(backend);
    });
    after(async () => {
      await server.close();
    });

    const adminCount = async () =>
      (
        await server.database.db
          .selectFrom('users')
          .select('username')
          .where('role', '=', 'admin')
          .execute()
      ).map((u) => u.username);

    it('cannot be demoted or deleted', async () => {
      const admin = apiAs(server, server.adminToken);
      assertError(await admin.patch('/api/v1/users/admin', { role: 'developer' }), 409, 'conflict');
      assertError(await admin.delete('/api/v1/users/admin'), 409, 'conflict');
      assert.deepEqual(await adminCount(), ['admin']);
      // A password change is no demotion.
      assertStatus(await admin.patch('/api/v1/users/admin', { password: 'admin-pass-1' }), 200);

      // With a second admin, the first may go; then the second is the last.
      const carol = apiAs(server, await createUserWithToken(server, 'carol', 'admin'));
      assertStatus(await carol.patch('/api/v1/users/admin', { role: 'developer' }), 200);
      assert.deepEqual(await adminCount(), ['carol']);
      assertError(await carol.patch('/api/v1/users/carol', { role: 'guest' }), 409, 'conflict');
      assertError(await carol.delete('/api/v1/users/carol'), 409, 'conflict');
      assertError(await admin.get('/api/v1/users'), 403, 'forbidden');
      assertStatus(await carol.delete('/api/v1/users/admin'), 204);
      assert.deepEqual(await adminCount(), ['carol']);
    });
  });

  describe('bootstrap', () => {
    it('creates no second admin on a second start on the same database', async () => {
      const server = await startTestServer(backend);
      const dataDir = await mkdtemp(join(tmpdir(), 'kiln-test-'));
      try {
        const usersBefore = await server.database.db.selectFrom('users').selectAll().execute();
        const tokensBefore = await server.database.db.selectFrom('tokens').selectAll().execute();
        const second = await startServer(
          parseServerConfig(['--data', dataDir, '--port', '0'], {}),
          {
            // The first server keeps the database: the second must not close it.
            database: { ...server.database, close: async () => {} },
            logger: pino({ level: 'silent' }),
          },
        );
        await second.close();
        assert.equal(second.adminToken, undefined);
        const users = await server.database.db.selectFrom('users').selectAll().execute();
        assert.deepEqual(users, usersBefore);
        assert.equal(usersBefore.length, 1);
        const tokens = await server.database.db.selectFrom('tokens').selectAll().execute();
        assert.equal(tokens.length, tokensBefore.length);
      } finally {
        await server.close();
        await rm(dataDir, { recursive: true, force: true });
      }
    });

    it('prints the admin token on the first start of `kiln serve` only', async (t) => {
      if (backend.name === 'postgres' && backend.url === undefined) {
        t.skip('KILN_TEST_DATABASE_URL is not set');
        return;
      }
      const dataDir = await mkdtemp(join(tmpdir(), 'kiln-test-'));
      const schema =
        backend.name === 'postgres' ? await createFreshSchema(backend.url ?? '') : undefined;
      const args = [
        'serve',
        '--data',
        dataDir,
        '--port',
        '0',
        ...(schema === undefined ? [] : ['--database', schema.url]),
      ];
      try {
        const first = startKiln(args, childEnv());
        const [, token] = await first.waitFor(tokenLine);
        assert.deepEqual(await first.stop(), { code: 0, signal: null });

        const second = startKiln(args, childEnv());
        const [, url] = await second.waitFor(/"url":"(http:[^"]+)".*"msg":"kiln server started"/);
        // The first token still works against the restarted server.
        const me = await fetch(`${url}/api/v1/me`, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(me.status, 200);
        assert.deepEqual(await second.stop(), { code: 0, signal: null });
        assert.doesNotMatch(second.stderr(), /token|kiln_p_/i);
        assert.doesNotMatch(second.stdout(), /kiln_p_/);
      } finally {
        await schema?.drop();
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  });
});
