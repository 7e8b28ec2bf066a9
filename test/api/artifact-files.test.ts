import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readlink } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, it } from 'node:test';
import { apiAs, type Api } from '../helpers/api.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const octets = { 'content-type': 'application/octet-stream' };

/** The files under `dir` this process holds open. */
async function openFilesUnder(dir: string): Promise<string[]> {
  const targets = await Promise.all(
    (await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')),
  );
  return targets.filter((target) => target.startsWith(dir));
}

/** Downloads and uploads of a file of several of the file store's blocks. */
forEachDatabase((backend) => {
  let server: TestServer;
  let admin: Api;
  const content = randomBytes(700 * 1024 + 3);
  let url: string;

  before(async () => {
    server = await startTestServer(backend);
    admin = apiAs(server, server.adminToken);
    assert.equal((await admin.post('/api/v1/workspaces', { name: 'files' })).status, 201);
    const created = await admin.post('/api/v1/workspaces/files/artifacts', {
      type: 'test',
      files: [{ path: 'dir/data.bin', size: content.length, sha256: sha256(content) }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    url = `/api/v1/artifacts/${created.body.id}/files/dir/data.bin`;
    const uploaded = await admin.put(url, content, octets);
    assert.equal(uploaded.status, 200, JSON.stringify(uploaded.body));
    assert.equal(uploaded.body.complete, true);
  });
  after(async () => {
    await server.close();
  });

  it('downloads the whole content', async () => {
    const response = await admin.get(url);
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-length'], String(content.length));
    assert.equal(response.headers['content-type'], 'application/octet-stream');
    assert.equal(response.headers.etag, `"${sha256(content)}"`);
    assert.ok(response.raw.equals(content));
  });

  it('downloads a range across blocks', async () => {
    const response = await admin.get(url, { range: 'bytes=262140-524300' });
    assert.equal(response.status, 206);
    assert.equal(response.headers['content-range'], `bytes 262140-524300/${content.length}`);
    assert.equal(response.headers['content-length'], String(524300 - 262140 + 1));
    assert.ok(response.raw.equals(content.subarray(262140, 524301)));
  });

  it('answers HEAD with the headers only', async () => {
    const response = await admin.call('HEAD', url);
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-length'], String(content.length));
    assert.equal(response.raw.length, 0);
  });

  it('answers a matching If-None-Match with 304', async () => {
    const response = await admin.get(url, { 'if-none-match': `"${sha256(content)}"` });
    assert.equal(response.status, 304);
    assert.equal(response.raw.length, 0);
  });

  it('closes the content when a client hangs up mid-download', async () => {
    const blobs = join(server.dataDir, 'files', 'blobs');
    await new Promise<void>((resolve, reject) => {
      const get = request(`${server.url}${url}`, {
        headers: { authorization: `Bearer ${server.adminToken}` },
      });
      get.on('response', (response) => {
        response.once('data', () => {
          get.destroy();
          resolve();
        });
      });
      get.on('error', reject);
      get.end();
    });
    for (let tries = 0; (await openFilesUnder(blobs)).length > 0; tries += 1) {
      assert.ok(tries < 100, 'the stored file is still open 2 s after the client left');
      await sleep(20);
    }
    assert.ok((await admin.get(url)).raw.equals(content), 'the server still serves it');
  });

  it('refuses content that does not match its sha256, and keeps nothing of it', async () => {
    const declared = randomBytes(300 * 1024);
    const created = await admin.post('/api/v1/workspaces/files/artifacts', {
      type: 'test',
      files: [{ path: 'other.bin', size: declared.length, sha256: sha256(declared) }],
    });
    const otherUrl = `/api/v1/artifacts/${created.body.id}/files/other.bin`;
    const response = await admin.put(otherUrl, randomBytes(declared.length), octets);
    assert.equal(response.status, 400);
    assert.equal(response.body.error.code, 'sha256_mismatch');
    assert.deepEqual(await readdir(join(server.dataDir, 'files', 'staging')), []);
    assert.equal((await admin.get(otherUrl)).body.error.code, 'incomplete_upload');
  });
});
