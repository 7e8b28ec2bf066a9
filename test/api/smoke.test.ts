import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { apiAs } from '../helpers/api.ts';
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

  it('answers health and whoami', async () => {
    const health = await apiAs(server).get('/api/v1/health');
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    const me = await apiAs(server, server.adminToken).get('/api/v1/me');
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.equal(me.body.user.username, 'admin');
  });
});
