import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { hashTokenSecret } from '../../src/server/auth/secrets.ts';
import { deleteExpiredSessions } from '../../src/server/web/session.repository.ts';
import { createUserWithToken, apiAs } from '../helpers/api.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { copyTask, createTaskWorkspace, submitTask } from '../helpers/scheduler.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { formField, setCookies, webClient } from '../helpers/web.ts';

forEachDatabase((backend) => {
  let server: TestServer;
  let aliceToken: string;
  before(async () => {
    server = await startTestServer(backend);
    aliceToken = await createUserWithToken(server, 'alice');
    await createUserWithToken(server, 'bob');
  });
  after(async () => {
    await server.close();
  });

  it('logs in with a password into an HttpOnly, SameSite=Lax cookie whose id is stored hashed', async () => {
    const web = webClient(server);
    const form = await web.get('/login');
    assert.equal(form.status, 200);
    const csrf = formField(form.body, '_csrf');
    const done = await web.post('/login', {
      _csrf: csrf,
      next: '/queue',
      username: 'alice',
      password: 'alice-password-123',
    });
    assert.equal(done.status, 303);
    assert.equal(done.headers['location'], '/queue');
    const cookie = setCookies(done).find((c) => c.startsWith('kiln_session='));
    assert.ok(cookie, 'a session cookie');
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Lax/);
    const id = web.jar.get('kiln_session') ?? '';
    const rows = await server.database.db.selectFrom('web_sessions').select('id_hash').execute();
    assert.ok(rows.length > 0);
    assert.ok(
      rows.every((r) => r.id_hash !== id && r.id_hash.length === 64),
      'only hashes are stored',
    );
    const home = await web.get('/');
    assert.match(home.body, /<span class="who">alice<\/span>/);
  });

  it('refuses a wrong password with the form again, and no session', async () => {
    const web = webClient(server);
    const form = await web.get('/login');
    const done = await web.post('/login', {
      _csrf: formField(form.body, '_csrf'),
      username: 'alice',
      password: 'wrong',
    });
    assert.equal(done.status, 401);
    assert.match(done.body, /wrong username or password/);
    assert.equal(web.jar.has('kiln_session'), false);
  });

  it('refuses a login form without the matching CSRF cookie', async () => {
    const web = webClient(server);
    await web.get('/login');
    const done = await web.post('/login', {
      _csrf: 'forged',
      username: 'alice',
      password: 'alice-password-123',
    });
    assert.equal(done.status, 403);
    assert.equal(web.jar.has('kiln_session'), false);
  });

  it('refuses a form post without the CSRF token and changes nothing', async () => {
    const workspace = await createTaskWorkspace(apiAs(server, aliceToken), 'csrf');
    const task = await submitTask(apiAs(server, aliceToken), workspace, {
      requirements: { architecture: 'nowhere' },
    });
    const web = webClient(server);
    const csrf = await web.logIn('alice');
    for (const forged of [{}, { _csrf: 'x'.repeat(csrf.length) }]) {
      const refused = await web.post(`/tasks/${task.id}/cancel`, forged);
      assert.equal(refused.status, 403);
      assert.match(refused.body, /did not come from this site/);
    }
    const still = await apiAs(server, aliceToken).get(`/api/v1/tasks/${task.id}`);
    assert.equal(still.body.state, 'pending');
    const done = await web.post(`/tasks/${task.id}/cancel`, { _csrf: csrf });
    assert.equal(done.status, 303);
    const cancelled = await apiAs(server, aliceToken).get(`/api/v1/tasks/${task.id}`);
    assert.equal(cancelled.body.state, 'cancelled');
  });

  it('sends a page request without a session to the login form, and a post nowhere', async () => {
    const web = webClient(server);
    const tokens = await web.get('/tokens');
    assert.equal(tokens.status, 303);
    assert.equal(tokens.headers['location'], '/login?next=%2Ftokens');
    const post = await web.post('/tokens', { name: 'x', scope_read: '1' });
    assert.equal(post.status, 303);
    assert.match(String(post.headers['location']), /^\/login/);
  });

  it('does not take the session cookie on the API: the API wants a token', async () => {
    const web = webClient(server);
    await web.logIn('alice');
    const response = await server.app.inject({
      method: 'GET',
      url: '/api/v1/tokens',
      headers: { cookie: `kiln_session=${web.jar.get('kiln_session') ?? ''}` },
    });
    assert.equal(response.statusCode, 401);
  });

  it('logs out: the session and its token are gone', async () => {
    const web = webClient(server);
    const csrf = await web.logIn('bob');
    const id = web.jar.get('kiln_session');
    const out = await web.post('/logout', { _csrf: csrf });
    assert.equal(out.status, 303);
    assert.equal(web.jar.has('kiln_session'), false);
    // The old cookie, replayed, is worth nothing.
    web.jar.set('kiln_session', id ?? '');
    const tokens = await web.get('/tokens');
    assert.equal(tokens.status, 303);
  });

  it('refuses an expired session, and the collector deletes it', async () => {
    const web = webClient(server);
    await web.logIn('bob');
    assert.equal((await web.get('/tokens')).status, 200);
    const db = server.database.db;
    const before = await db.selectFrom('web_sessions').select('id_hash').execute();
    await db
      .updateTable('web_sessions')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id_hash', '=', hashTokenSecret(web.jar.get('kiln_session') ?? ''))
      .execute();
    const refused = await web.get('/tokens');
    assert.equal(refused.status, 303);
    assert.match(String(refused.headers['location']), /^\/login/);
    await deleteExpiredSessions(db);
    const left = await db.selectFrom('web_sessions').select('id_hash').execute();
    assert.equal(left.length, before.length - 1, 'the expired session is deleted, no other');
  });

  it('creates a token from the tokens page and shows its secret once', async () => {
    const web = webClient(server);
    const csrf = await web.logIn('alice');
    const created = await web.post('/tokens', {
      _csrf: csrf,
      name: 'ci',
      scope_read: '1',
      days: '30',
    });
    assert.equal(created.status, 201);
    const secret = /<code id="new-token">([^<]+)<\/code>/.exec(created.body)?.[1] ?? '';
    assert.match(secret, /^kiln_p_/);
    const me = await apiAs(server, secret).get('/api/v1/tokens');
    assert.equal(me.status, 200);
    const listed = await web.get('/tokens');
    assert.match(listed.body, /<td>ci<\/td>\s*<td>read<\/td>/);
    assert.ok(!listed.body.includes(secret), 'the secret is not shown again');
  });

  it('pages through a long task list, 50 a page, counting ten pages ahead', async () => {
    const owner = apiAs(server, aliceToken);
    const workspace = await createTaskWorkspace(owner, 'long');
    const first = await submitTask(owner, workspace);
    await copyTask(server, first.id, 700);
    const web = webClient(server);
    await web.logIn('alice');
    const top = await web.get(`/workspaces/${workspace}/tasks`);
    assert.equal(top.status, 200);
    assert.match(top.body, /1–50 of\s+more than 500/);
    assert.equal(top.body.match(/<tr>\s*<td><a href="\/tasks\/\d+">/g)?.length, 50);
    const deep = await web.get(`/workspaces/${workspace}/tasks?offset=700`);
    assert.match(deep.body, /701–701 of\s+701</);
    assert.match(
      deep.body,
      new RegExp(`href="/tasks/${first.id}"`),
      'the oldest task is on the last page',
    );
  });
});
