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

  it('runs a task through a worker', async () => {
    const admin = apiAs(server, server.adminToken);
    assert.equal((await admin.post('/api/v1/workspaces', { name: 'w' })).status, 201);
    const enrolment = await admin.post('/api/v1/workers/enrolment-tokens', {});
    assert.equal(enrolment.status, 201, JSON.stringify(enrolment.body));
    const enrolled = await apiAs(server, enrolment.body.token).post('/api/v1/workers/enrol', {
      name: 'w1',
      metadata: {
        architectures: ['amd64'],
        executors: ['host'],
        cores: 2,
        memory: 1e9,
        disk: 1e10,
      },
    });
    assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
    const worker = apiAs(server, enrolled.body.token);
    const task = await admin.post('/api/v1/workspaces/w/tasks', { type: 'noop' });
    assert.equal(task.status, 201, JSON.stringify(task.body));
    const claim = await worker.post('/api/v1/worker/claim', { wait: 1 });
    assert.equal(claim.status, 200, JSON.stringify(claim.body));
    const taskApi = apiAs(server, claim.body.token);
    assert.equal(
      (
        await taskApi.call('POST', `/api/v1/tasks/${task.body.id}/log`, 'hello\n', {
          'content-type': 'text/plain',
        })
      ).status,
      200,
    );
    const done = await taskApi.post(`/api/v1/tasks/${task.body.id}/complete`, {
      result: 'success',
    });
    assert.equal(done.status, 204, JSON.stringify(done.body));
    const shown = await admin.get(`/api/v1/tasks/${task.body.id}`);
    assert.equal(shown.body.state, 'completed');
    assert.equal(shown.body.result, 'success');
    assert.notEqual(shown.body.log_artifact, null);
    const log = await admin.get(`/api/v1/tasks/${task.body.id}/log`);
    assert.match(log.raw.toString(), /hello/);
    const stale = await taskApi.post(`/api/v1/tasks/${task.body.id}/complete`, {
      result: 'success',
    });
    assert.equal(stale.status, 409);
    const server2 = await admin.post('/api/v1/workspaces/w/tasks', { type: 'server-noop' });
    for (let i = 0; i < 50; i++) {
      const t = await admin.get(`/api/v1/tasks/${server2.body.id}`);
      if (t.body.state === 'completed') {
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await admin.get(`/api/v1/tasks/${server2.body.id}`)).body.result, 'success');
    const why = await admin.get(
      `/api/v1/tasks/${(await admin.post('/api/v1/workspaces/w/tasks', { type: 'noop', requirements: { architecture: 'arm64' } })).body.id}/why`,
    );
    assert.equal(why.body.reasons[0].code, 'no-worker-for-architecture', JSON.stringify(why.body));
  });
});
