import assert from 'node:assert/strict';
import { createHash, scryptSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Token } from '../../src/protocol/tokens.schema.ts';
import { apiAs, createUserWithToken } from '../helpers/api.ts';
import { assertError } from '../helpers/assertions.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

forEachDatabase((backend) => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer(backend);
  });
  after(async () => {
    await server.close();
  });

  describe('login', () => {
    it('exchanges a password for a working token with the role’s scopes', async () => {
      const admin = apiAs(server, server.adminToken);
      const created = await admin.post('/api/v1/users', {
        username: 'alice',
        password: 'alice-secret-1',
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.role, 'developer');
      assert.equal(created.body.has_password, true);

      const login = await apiAs(server).post('/api/v1/auth/login', {
        username: 'alice',
        password: 'alice-secret-1',
      });
      assert.equal(login.status, 200, JSON.stringify(login.body));
      assert.equal(login.body.user.username, 'alice');
      assert.match(login.body.token.token, /^kiln_p_/);
      assert.deepEqual(login.body.token.scopes, ['read', 'write']);

      const me = await apiAs(server, login.body.token.token).get('/api/v1/me');
      assert.equal(me.status, 200, JSON.stringify(me.body));
      assert.equal(me.body.user.username, 'alice');
      assert.deepEqual([...me.body.scopes].sort(), ['read', 'write']);
    });

    it('refuses a wrong password and an unknown user alike, with invalid_credentials', async () => {
      const anonymous = apiAs(server);
      const wrong = await anonymous.post('/api/v1/auth/login', {
        username: 'alice',
        password: 'not-her-password',
      });
      assertError(wrong, 401, 'invalid_credentials');
      const unknown = await anonymous.post('/api/v1/auth/login', {
        username: 'nobody',
        password: 'alice-secret-1',
      });
      assertError(unknown, 401, 'invalid_credentials');
      assert.equal(unknown.body.error.message, wrong.body.error.message);
      // The first admin has no password: no password logs it in.
      const noPassword = await anonymous.post('/api/v1/auth/login', {
        username: 'admin',
        password: '',
      });
      assertError(noPassword, 401, 'invalid_credentials');
    });

    it('refuses a token that does not exist', async () => {
      assertError(await apiAs(server, 'kiln_p_nonsense').get('/api/v1/me'), 401, 'unauthenticated');
    });
  });

  describe('personal tokens', () => {
    it('creates one with scopes and an expiry, lists it and revokes it', async () => {
      const alice = apiAs(server, await createUserWithToken(server, 'tina'));
      const before = Date.now();
      const created = await alice.post('/api/v1/tokens', {
        name: 'ci',
        scopes: ['read'],
        expires_in: 3600,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.scopes, ['read']);
      assert.equal(created.body.revoked, false);
      const expires = Date.parse(created.body.expires_at);
      assert.ok(Math.abs(expires - (before + 3600_000)) < 60_000, created.body.expires_at);

      const readOnly = apiAs(server, created.body.token);
      const me = await readOnly.get('/api/v1/me');
      assert.equal(me.status, 200);
      assert.deepEqual(me.body.scopes, ['read']);
      // The scope is enforced: a read token changes nothing.
      assertError(
        await readOnly.post('/api/v1/workspaces', { name: 'tina-ws' }),
        403,
        'insufficient_scope',
      );

      const listed = await alice.get('/api/v1/tokens');
      assert.equal(listed.status, 200);
      const ci = (listed.body.items as Token[]).find((t) => t.id === created.body.id);
      assert.ok(ci, 'the new token is listed');
      assert.equal(ci.name, 'ci');
      assert.deepEqual(ci.scopes, ['read']);
      assert.equal(ci.revoked, false);
      for (const item of listed.body.items) {
        assert.equal('token' in item, false, 'a listed token never shows its secret');
      }

      // Someone else cannot revoke it, nor see that it exists.
      const other = apiAs(server, await createUserWithToken(server, 'otto'));
      assertError(await other.delete(`/api/v1/tokens/${created.body.id}`), 404, 'not_found');
      assert.equal((await readOnly.get('/api/v1/me')).status, 200);

      assert.equal((await alice.delete(`/api/v1/tokens/${created.body.id}`)).status, 204);
      assertError(await readOnly.get('/api/v1/me'), 401, 'unauthenticated');
      const after = await alice.get('/api/v1/tokens');
      assert.equal(
        (after.body.items as Token[]).find((t) => t.id === created.body.id)?.revoked,
        true,
      );
    });

    it('cannot grant a scope the token lacks', async () => {
      const full = apiAs(server, await createUserWithToken(server, 'rita'));
      const read = await full.post('/api/v1/tokens', { name: 'read', scopes: ['read'] });
      const readOnly = apiAs(server, read.body.token);
      const widened = await readOnly.post('/api/v1/tokens', {
        name: 'wider',
        scopes: ['read', 'write'],
      });
      assertError(widened, 403, 'insufficient_scope');
      // Nor by the back door: setting the password, then logging in with every scope.
      const password = await readOnly.put('/api/v1/me/password', { password: 'rita-new-pass' });
      assertError(password, 403, 'insufficient_scope');
      assertError(
        await apiAs(server).post('/api/v1/auth/login', {
          username: 'rita',
          password: 'rita-new-pass',
        }),
        401,
        'invalid_credentials',
      );
    });

    it('never gives the admin scope to a non-admin', async () => {
      const dev = apiAs(server, await createUserWithToken(server, 'dave'));
      assertError(
        await dev.post('/api/v1/tokens', { name: 'x', scopes: ['read', 'admin'] }),
        403,
        'insufficient_scope',
      );
      // An admin demoted later keeps its old token, but not the powers.
      const adminToken = await createUserWithToken(server, 'ada', 'admin');
      const ada = apiAs(server, adminToken);
      assert.equal((await ada.get('/api/v1/users')).status, 200);
      const demoted = await apiAs(server, server.adminToken).patch('/api/v1/users/ada', {
        role: 'developer',
      });
      assert.equal(demoted.status, 200, JSON.stringify(demoted.body));
      assertError(await ada.get('/api/v1/users'), 403, 'forbidden');
      assertError(
        await ada.post('/api/v1/tokens', { name: 'x', scopes: ['admin'] }),
        403,
        'insufficient_scope',
      );
    });

    it('gives an admin token without the admin scope no admin powers', async () => {
      const admin = apiAs(server, server.adminToken);
      const narrow = await admin.post('/api/v1/tokens', { name: 'rw', scopes: ['read', 'write'] });
      assert.equal(narrow.status, 201);
      assertError(
        await apiAs(server, narrow.body.token).get('/api/v1/users'),
        403,
        'insufficient_scope',
      );
    });

    it('refuses an expired token with token_expired', async () => {
      const user = apiAs(server, await createUserWithToken(server, 'eve'));
      const created = await user.post('/api/v1/tokens', { name: 'short', expires_in: 60 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const short = apiAs(server, created.body.token);
      assert.equal((await short.get('/api/v1/me')).status, 200);
      await server.database.db
        .updateTable('tokens')
        .set({ expires_at: sql<Date>`now() - interval '1 second'` })
        .where('id', '=', created.body.id)
        .execute();
      assertError(await short.get('/api/v1/me'), 401, 'token_expired');
      // Shorter than a minute is refused at creation.
      assertError(
        await user.post('/api/v1/tokens', { name: 'shorter', expires_in: 59 }),
        400,
        'validation_failed',
      );
    });

    it('stores only a hash of each secret', async () => {
      const user = apiAs(server, await createUserWithToken(server, 'hal'));
      const created = await user.post('/api/v1/tokens', { name: 'stored' });
      const secret: string = created.body.token;
      const rows = await server.database.db.selectFrom('tokens').selectAll().execute();
      const random = secret.slice('kiln_p_'.length);
      for (const row of rows) {
        const text = JSON.stringify(row);
        assert.equal(text.includes(random), false, `token ${row.id} holds the secret`);
        assert.equal(text.includes(server.adminToken.slice(7)), false, 'the admin secret');
      }
      const row = rows.find((r) => r.id === created.body.id);
      assert.equal(row?.hash, createHash('sha256').update(secret).digest('hex'));
    });
  });

  describe('passwords', () => {
    it('are stored as salted scrypt hashes', async () => {
      const admin = apiAs(server, server.adminToken);
      for (const username of ['pam', 'pat']) {
        const created = await admin.post('/api/v1/users', { username, password: 'same-password' });
        assert.equal(created.status, 201);
      }
      const rows = await server.database.db
        .selectFrom('users')
        .select(['username', 'password_hash'])
        .where('username', 'in', ['pam', 'pat'])
        .orderBy('username')
        .execute();
      assert.equal(rows.length, 2);
      for (const { password_hash } of rows) {
        const stored = password_hash ?? '';
        assert.equal(stored.includes('same-password'), false);
        const match = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(
          stored,
        );
        assert.ok(match, stored);
        const [, n, r, p, salt, key] = match as unknown as string[];
        assert.ok(Number(n) >= 2 ** 15, 'a cost of at least N = 2^15');
        const derived = scryptSync('same-password', Buffer.from(salt!, 'base64'), 32, {
          N: Number(n),
          r: Number(r),
          p: Number(p),
          maxmem: 256 * 1024 * 1024,
        });
        assert.equal(derived.toString('base64'), key);
      }
      assert.notEqual(rows[0]?.password_hash, rows[1]?.password_hash, 'each hash has its salt');
    });
  });
});
