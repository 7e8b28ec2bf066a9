import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, it } from 'node:test';
import { apiAs, type Api } from '../helpers/api.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const octets = { 'content-type': 'application/octet-stream' };

/** PUT /artifacts/{id}/content: the contents of all incomplete files in one request. */
forEachDatabase((backend) => {
  let server: TestServer;
  let admin: Api;
  // Each test has contents of its own: content stored already needs no upload.
  const batchOf = (salt: string) => {
    const contents = [
      Buffer.from(`${salt}: first file\n`),
      Buffer.from(`${salt}: second, longer file\n`.repeat(50)),
      Buffer.alloc(0),
      Buffer.from(`${salt}: fourth`),
    ] as const;
    // Declared out of order, and one content twice: it is sent once, in path order.
    const files = [
      { path: 'd.bin', content: contents[3] },
      { path: 'a.bin', content: contents[0] },
      { path: 'c.bin', content: contents[2] },
      { path: 'b.bin', content: contents[1] },
      { path: 'e.bin', content: contents[0] },
    ];
    return { contents, files, inPathOrder: Buffer.concat([...contents]) };
  };

  const create = async (files: readonly { path: string; content: Buffer }[]) => {
    const created = await admin.post('/api/v1/workspaces/batch/artifacts', {
      type: 'test',
      files: files.map((f) => ({
        path: f.path,
        size: f.content.length,
        sha256: sha256(f.content),
      })),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body.id as number;
  };

  before(async () => {
    server = await startTestServer(backend);
    admin = apiAs(server, server.adminToken);
    assert.equal((await admin.post('/api/v1/workspaces', { name: 'batch' })).status, 201);
  });
  after(async () => {
    await server.close();
  });

  it('stores every file of the batch, each downloadable', async () => {
    const { files, inPathOrder } = batchOf('stored');
    const id = await create(files);
    const uploaded = await admin.put(`/api/v1/artifacts/${id}/content`, inPathOrder, octets);
    assert.equal(uploaded.status, 200, JSON.stringify(uploaded.body));
    assert.ok((uploaded.body.files as { complete: boolean }[]).every((f) => f.complete));
    for (const file of files) {
      const response = await admin.get(`/api/v1/artifacts/${id}/files/${file.path}`);
      assert.equal(response.status, 200);
      assert.ok(response.raw.equals(file.content), file.path);
    }
  });

  it('refuses contents in another order, and keeps the files incomplete', async () => {
    const { files, contents } = batchOf('swapped');
    const id = await create(files);
    const swapped = Buffer.concat([contents[1], contents[0], contents[2], contents[3]]);
    const uploaded = await admin.put(`/api/v1/artifacts/${id}/content`, swapped, octets);
    assert.equal(uploaded.status, 400, JSON.stringify(uploaded.body));
    assert.equal(uploaded.body.error.code, 'sha256_mismatch');
    const artifact = await admin.get(`/api/v1/artifacts/${id}`);
    // c.bin is empty, a content stored by the first test already: complete at once.
    const incomplete = (artifact.body.files as { path: string; complete: boolean }[])
      .filter((f) => !f.complete)
      .map((f) => f.path);
    assert.deepEqual(incomplete, ['a.bin', 'b.bin', 'd.bin', 'e.bin']);
  });

  it('refuses a body of the wrong length', async () => {
    const { files, inPathOrder } = batchOf('short');
    const id = await create(files);
    const uploaded = await admin.put(
      `/api/v1/artifacts/${id}/content`,
      inPathOrder.subarray(1),
      octets,
    );
    assert.equal(uploaded.status, 400, JSON.stringify(uploaded.body));
    assert.equal(uploaded.body.error.code, 'size_mismatch');
  });
});
