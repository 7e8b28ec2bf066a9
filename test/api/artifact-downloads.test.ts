import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiAs, createUserWithToken, type Api } from '../helpers/api.ts';
import {
  createArtifact,
  createUploadedArtifact,
  createWorkspace,
  declare,
  expectError,
  expectStatus,
  fileUrl,
  openRequest,
  sha256Of,
  uniqueContent,
  uploadFile,
} from '../helpers/artifacts.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** Uploads and downloads: byte-identical content, HTTP Range, ETag, HEAD, file names. */
forEachDatabase((backend) => {
  let server: TestServer;
  let alice: Api;
  let aliceToken: string;
  /** An uploaded 100-byte file: bytes 0, 1, ..., 99. */
  const content = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
  const etag = `"${sha256Of(content)}"`;
  let url: string;

  before(async () => {
    server = await startTestServer(backend);
    aliceToken = await createUserWithToken(server, 'alice');
    alice = apiAs(server, aliceToken);
    await createWorkspace(alice, 'ws');
    url = fileUrl(
      await createUploadedArtifact(alice, 'ws', 'dir/bytes.bin', content),
      'dir/bytes.bin',
    );
  });
  after(async () => {
    await server.close();
  });

  describe('whole content', () => {
    it('downloads what was uploaded, byte for byte, with its headers', async () => {
      const big = uniqueContent(3 * 1024 * 1024 + 17);
      const id = await createUploadedArtifact(alice, 'ws', 'big.bin', big);
      const response = await alice.get(fileUrl(id, 'big.bin'));
      expectStatus(response, 200);
      assert.ok(response.raw.equals(big));
      assert.equal(response.headers['content-length'], String(big.length));
      assert.equal(response.headers['content-type'], 'application/octet-stream');
      assert.equal(response.headers['etag'], `"${sha256Of(big)}"`);
      assert.equal(response.headers['accept-ranges'], 'bytes');
      assert.equal(
        response.headers['content-disposition'],
        `attachment; filename="big.bin"; filename*=UTF-8''big.bin`,
      );
    });

    it('streams an upload and a download over a real socket, chunked', async () => {
      const big = uniqueContent(2 * 1024 * 1024 + 3);
      const { id } = await createArtifact(alice, 'ws', {
        type: 'test',
        files: [declare('socket.bin', big)],
      });
      const upload = openRequest(server, 'PUT', fileUrl(id as number, 'socket.bin'), {
        authorization: `Bearer ${aliceToken}`,
        'content-type': 'application/octet-stream',
      });
      // Several writes without a content-length: the body is sent chunked.
      for (let offset = 0; offset < big.length; offset += 256 * 1024) {
        upload.request.write(big.subarray(offset, offset + 256 * 1024));
      }
      upload.request.end();
      const uploaded = await upload.response;
      assert.equal(uploaded.status, 200, uploaded.body.toString());
      const download = openRequest(server, 'GET', fileUrl(id as number, 'socket.bin'), {
        authorization: `Bearer ${aliceToken}`,
      });
      download.request.end();
      const downloaded = await download.response;
      assert.equal(downloaded.status, 200);
      assert.ok(downloaded.body.equals(big));
    });

    it('answers HEAD with the headers of GET and no body', async () => {
      const response = await alice.call('HEAD', url);
      expectStatus(response, 200);
      assert.equal(response.raw.length, 0);
      assert.equal(response.headers['content-length'], '100');
      assert.equal(response.headers['etag'], etag);
      assert.equal(response.headers['accept-ranges'], 'bytes');
    });

    it('answers 304 to If-None-Match with the current ETag, 200 to another', async () => {
      const cached = await alice.get(url, { 'if-none-match': etag });
      expectStatus(cached, 304);
      assert.equal(cached.raw.length, 0);
      assert.equal(cached.headers['etag'], etag);
      const stale = await alice.get(url, { 'if-none-match': `"${'0'.repeat(64)}"` });
      expectStatus(stale, 200);
      assert.ok(stale.raw.equals(content));
    });

    it('refuses to download a file not uploaded yet, or not declared', async () => {
      const pending = uniqueContent();
      const { id } = await createArtifact(alice, 'ws', {
        type: 'test',
        files: [declare('pending', pending)],
      });
      expectError(await alice.get(fileUrl(id as number, 'pending')), 409, 'incomplete_upload');
      expectError(await alice.get(fileUrl(id as number, 'absent')), 404, 'not_found');
    });
  });

  describe('HTTP Range (RFC 9110 §14)', () => {
    const expectPartial = async (range: string, start: number, end: number) => {
      const response = await alice.get(url, { range });
      expectStatus(response, 206);
      assert.equal(response.headers['content-range'], `bytes ${start}-${end}/100`);
      assert.equal(response.headers['content-length'], String(end - start + 1));
      assert.ok(response.raw.equals(content.subarray(start, end + 1)), range);
    };
    const expectWhole = async (headers: Record<string, string>) => {
      const response = await alice.get(url, headers);
      expectStatus(response, 200);
      assert.equal(response.headers['content-range'], undefined);
      assert.ok(response.raw.equals(content), JSON.stringify(headers));
    };

    it('serves a closed range', async () => {
      await expectPartial('bytes=10-19', 10, 19);
      await expectPartial('bytes=0-0', 0, 0);
      await expectPartial('bytes=95-500', 95, 99);
    });

    it('serves a suffix range', async () => {
      await expectPartial('bytes=-10', 90, 99);
    });

    it('serves an open range', async () => {
      await expectPartial('bytes=5-', 5, 99);
    });

    it('answers 416 with the size to a range outside the content', async () => {
      const response = await alice.get(url, { range: 'bytes=100-200' });
      expectError(response, 416, 'range_not_satisfiable');
      assert.equal(response.headers['content-range'], 'bytes */100');
    });

    it('serves the whole content for a malformed range, another unit or several ranges', async () => {
      await expectWhole({ range: 'bytes=abc' });
      await expectWhole({ range: 'garbage' });
      await expectWhole({ range: 'items=0-9' });
      await expectWhole({ range: 'items=100-200' });
      await expectWhole({ range: 'bytes=0-1,50-51' });
    });

    it('honours If-Range: the range for the current ETag, all for another', async () => {
      await expectPartial('bytes=0-9', 0, 9);
      const current = await alice.get(url, { range: 'bytes=0-9', 'if-range': etag });
      expectStatus(current, 206);
      await expectWhole({ range: 'bytes=0-9', 'if-range': `"${'1'.repeat(64)}"` });
    });
  });

  describe('file names', () => {
    const names = [
      'pool/main/h/hello/hello_1.0-1_amd64.deb',
      'with space/and more spaces.txt',
      'ünïcødé/ファイル名.txt',
      'emoji/🦀 crab.bin',
      'signs/100% #1 ?q=a+b&c.txt',
      '..hidden/...dots/.profile',
    ];

    it('round-trip through declaration, upload, listing, download and removal', async () => {
      const contents = names.map(() => uniqueContent(50));
      const { id } = await createArtifact(alice, 'ws', {
        type: 'test',
        files: names.map((name, i) => declare(name, contents[i]!)),
      });
      for (const [i, name] of names.entries()) {
        await uploadFile(alice, id as number, name, contents[i]!);
      }
      const shown = await alice.get(`/api/v1/artifacts/${id}`);
      assert.deepEqual(
        (shown.body.files as { path: string }[]).map((f) => f.path).sort(),
        [...names].sort(),
      );
      for (const [i, name] of names.entries()) {
        const response = await alice.get(fileUrl(id as number, name));
        expectStatus(response, 200);
        assert.ok(response.raw.equals(contents[i]!), name);
        const base = name.slice(name.lastIndexOf('/') + 1);
        assert.ok(
          String(response.headers['content-disposition']).endsWith(
            `filename*=UTF-8''${encodeURIComponent(base)}`,
          ),
        );
      }
      for (const name of names) {
        expectStatus(await alice.delete(fileUrl(id as number, name)), 204);
      }
      assert.deepEqual((await alice.get(`/api/v1/artifacts/${id}`)).body.files, []);
    });
  });
});
