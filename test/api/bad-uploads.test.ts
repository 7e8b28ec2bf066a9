import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { apiAs, createUserWithToken, type Api } from '../helpers/api.ts';
import {
  createArtifact,
  createWorkspace,
  declare,
  expectError,
  fileUrl,
  listBlobs,
  listStaged,
  openRequest,
  sha256Of,
  uniqueContent,
  uploadFile,
  waitUntil,
} from '../helpers/artifacts.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Uploads that do not match their declaration, or that stop midway: each is
 * refused with its code, and leaves no blob, no staged file and the file still
 * incomplete, so that the right content can then be uploaded.
 */
forEachDatabase((backend) => {
  let server: TestServer;
  let token: string;
  let alice: Api;
  const content = uniqueContent(64 * 1024);
  const other = uniqueContent(content.length);
  let id: number;
  let url: string;

  before(async () => {
    server = await startTestServer(backend);
    token = await createUserWithToken(server, 'alice');
    alice = apiAs(server, token);
    await createWorkspace(alice, 'ws');
  });
  beforeEach(async () => {
    id = (await createArtifact(alice, 'ws', { type: 'test', files: [declare('f.bin', content)] }))
      .id as number;
    url = fileUrl(id, 'f.bin');
  });
  after(async () => {
    await server.close();
  });

  /** Asserts nothing of either content is stored or staged and the file is incomplete. */
  const expectNothingStored = async () => {
    const blobs = await listBlobs(server);
    assert.ok(!blobs.includes(sha256Of(content)));
    assert.ok(!blobs.includes(sha256Of(other)));
    assert.deepEqual(await listStaged(server), []);
    const shown = await alice.get(`/api/v1/artifacts/${id}`);
    assert.equal(shown.body.files[0].complete, false);
    expectError(await alice.get(url), 409, 'incomplete_upload');
  };
  /** Then the right content still uploads: the failure left the file uploadable. */
  const expectRightContentUploads = async () => {
    await uploadFile(alice, id, 'f.bin', content);
    assert.ok((await alice.get(url)).raw.equals(content));
    // Clean up, so that the next test starts without this blob.
    assert.equal((await alice.delete(`/api/v1/artifacts/${id}`)).status, 204);
    await apiAs(server, server.adminToken).post('/api/v1/admin/gc');
    assert.ok(!(await listBlobs(server)).includes(sha256Of(content)));
  };
  const put = (body: Buffer) =>
    alice.put(url, body, { 'content-type': 'application/octet-stream' });
  /** Sends `body` chunked (no content-length) over a real socket. */
  const putChunked = async (body: Buffer) => {
    const { request, response } = openRequest(server, 'PUT', url, {
      authorization: `Bearer ${token}`,
      'content-type': 'application/octet-stream',
    });
    request.write(body.subarray(0, body.length >> 1));
    request.end(body.subarray(body.length >> 1));
    const received = await response;
    return { status: received.status, body: JSON.parse(received.body.toString()) as unknown };
  };

  describe('with a content-length', () => {
    it('refuses content of another sha256 (sha256_mismatch)', async () => {
      expectError(await put(other), 400, 'sha256_mismatch');
      await expectNothingStored();
      await expectRightContentUploads();
    });

    it('refuses a shorter body (size_mismatch)', async () => {
      expectError(await put(content.subarray(1)), 400, 'size_mismatch');
      await expectNothingStored();
      await expectRightContentUploads();
    });

    it('refuses a longer body (size_mismatch)', async () => {
      expectError(await put(Buffer.concat([content, Buffer.from('x')])), 400, 'size_mismatch');
      await expectNothingStored();
      await expectRightContentUploads();
    });

    it('refuses an upload to a file not declared (not_found)', async () => {
      expectError(
        await alice.put(fileUrl(id, 'other.bin'), content, {
          'content-type': 'application/octet-stream',
        }),
        404,
        'not_found',
      );
      await expectNothingStored();
      await expectRightContentUploads();
    });
  });

  describe('chunked, over a socket', () => {
    it('refuses content of another sha256 (sha256_mismatch)', async () => {
      const response = await putChunked(other);
      assert.equal(response.status, 400);
      assert.deepEqual(Object.keys(response.body as object), ['error']);
      assert.equal((response.body as { error: { code: string } }).error.code, 'sha256_mismatch');
      await expectNothingStored();
      await expectRightContentUploads();
    });

    it('refuses a shorter body (size_mismatch)', async () => {
      const response = await putChunked(content.subarray(0, content.length - 1));
      assert.equal(response.status, 400);
      assert.equal((response.body as { error: { code: string } }).error.code, 'size_mismatch');
      await expectNothingStored();
      await expectRightContentUploads();
    });

    it('refuses a longer body (size_mismatch)', async () => {
      const response = await putChunked(Buffer.concat([content, uniqueContent(1024 * 1024)]));
      assert.equal(response.status, 400);
      assert.equal((response.body as { error: { code: string } }).error.code, 'size_mismatch');
      await expectNothingStored();
      await expectRightContentUploads();
    });

    it('keeps nothing of an upload whose client goes away midway', async () => {
      const { request, response } = openRequest(server, 'PUT', url, {
        authorization: `Bearer ${token}`,
        'content-type': 'application/octet-stream',
        'content-length': String(content.length),
      });
      response.catch(() => undefined); // the request is destroyed: it fails
      request.write(content.subarray(0, content.length >> 1));
      // The server has started to stage the upload...
      await waitUntil('the upload is staged', async () => (await listStaged(server)).length > 0);
      request.destroy();
      // ...and removes the staged part once it sees the client gone.
      await waitUntil(
        'the staged part is removed',
        async () => (await listStaged(server)).length === 0,
      );
      await expectNothingStored();
      await expectRightContentUploads();
    });
  });
});
