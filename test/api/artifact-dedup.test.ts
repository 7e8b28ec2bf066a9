import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { apiAs, createUserWithToken, type Api } from '../helpers/api.ts';
import {
  createArtifact,
  createUploadedArtifact,
  createWorkspace,
  declare,
  expectError,
  expectStatus,
  fileUrl,
  listBlobs,
  sha256Of,
  uniqueContent,
  uploadFile,
} from '../helpers/artifacts.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Deduplication: content is stored once, and a declared file whose content the
 * declaring user can already read is complete without an upload; but knowing a
 * digest never gives access to content the user cannot read.
 */
forEachDatabase((backend) => {
  let server: TestServer;
  let alice: Api;
  let bob: Api;

  before(async () => {
    server = await startTestServer(backend);
    alice = apiAs(server, await createUserWithToken(server, 'alice'));
    bob = apiAs(server, await createUserWithToken(server, 'bob'));
    await createWorkspace(alice, 'alice-private');
    await createWorkspace(alice, 'alice-other');
    await createWorkspace(alice, 'alice-public', { public: true });
    await createWorkspace(bob, 'bob-ws');
  });
  after(async () => {
    await server.close();
  });

  it('completes at once a file whose content the user can read, and stores it once', async () => {
    const content = uniqueContent(4096);
    const sha256 = sha256Of(content);
    const blobsBefore = await listBlobs(server);
    await createUploadedArtifact(alice, 'alice-private', 'first.bin', content);
    const blobsAfterUpload = await listBlobs(server);
    assert.equal(blobsAfterUpload.length, blobsBefore.length + 1);
    assert.ok(blobsAfterUpload.includes(sha256));

    const second = await createArtifact(alice, 'alice-other', {
      type: 'test',
      files: [declare('copy/second.bin', content)],
    });
    assert.deepEqual(second.files, [{ ...declare('copy/second.bin', content), complete: true }]);
    const download = await alice.get(fileUrl(second.id as number, 'copy/second.bin'));
    expectStatus(download, 200);
    assert.ok(download.raw.equals(content));

    // Attaching the same content to a third artifact is complete at once too.
    const third = await createArtifact(alice, 'alice-other', { type: 'test' });
    const attached = await alice.post(
      `/api/v1/artifacts/${third.id}/files`,
      declare('third.bin', content),
    );
    expectStatus(attached, 201);
    assert.equal(attached.body.complete, true);
    assert.deepEqual(await listBlobs(server), blobsAfterUpload);
  });

  it('stores content uploaded twice only once', async () => {
    const content = uniqueContent(1000);
    const blobsBefore = await listBlobs(server);
    // Both declared before either upload: neither is complete at declaration.
    const a = await createArtifact(alice, 'alice-private', {
      type: 'test',
      files: [declare('a.bin', content)],
    });
    const b = await createArtifact(bob, 'bob-ws', {
      type: 'test',
      files: [declare('b.bin', content)],
    });
    assert.equal(a.files[0].complete, false);
    assert.equal(b.files[0].complete, false);
    await uploadFile(alice, a.id as number, 'a.bin', content);
    await uploadFile(bob, b.id as number, 'b.bin', content);
    assert.equal((await listBlobs(server)).length, blobsBefore.length + 1);
    assert.ok((await bob.get(fileUrl(b.id as number, 'b.bin'))).raw.equals(content));
  });

  it('never completes a file from content in a workspace the user cannot read', async () => {
    const secret = uniqueContent(512);
    const secretId = await createUploadedArtifact(alice, 'alice-private', 'secret.key', secret);
    expectError(await bob.get(`/api/v1/artifacts/${secretId}`), 404, 'not_found');
    const blobs = await listBlobs(server);

    const guess = await createArtifact(bob, 'bob-ws', {
      type: 'test',
      files: [declare('guess.key', secret)],
    });
    assert.equal(guess.files[0].complete, false);
    expectError(await bob.get(fileUrl(guess.id as number, 'guess.key')), 409, 'incomplete_upload');
    expectError(
      await bob.patch(`/api/v1/artifacts/${guess.id}`, { immutable: true }),
      409,
      'incomplete_upload',
    );
    const attached = await bob.post(
      `/api/v1/artifacts/${guess.id}/files`,
      declare('again.key', secret),
    );
    assert.equal(attached.body.complete, false);

    // A wrong size is not reported either: that would tell the stored size.
    const wrongSize = await createArtifact(bob, 'bob-ws', {
      type: 'test',
      files: [{ path: 'x', sha256: sha256Of(secret), size: secret.length + 1 }],
    });
    assert.equal(wrongSize.files[0].complete, false);
    // For alice, who can read it, a wrong size is a mistake worth reporting.
    expectError(
      await alice.post('/api/v1/workspaces/alice-other/artifacts', {
        type: 'test',
        files: [{ path: 'x', sha256: sha256Of(secret), size: secret.length + 1 }],
      }),
      400,
      'size_mismatch',
    );

    // Bob must upload the content; then it is his, still stored once.
    await uploadFile(bob, guess.id as number, 'guess.key', secret);
    assert.ok((await bob.get(fileUrl(guess.id as number, 'guess.key'))).raw.equals(secret));
    assert.deepEqual((await listBlobs(server)).sort(), blobs.sort());
  });

  it('completes a file from content in a public workspace', async () => {
    const content = uniqueContent(300);
    await createUploadedArtifact(alice, 'alice-public', 'public.txt', content);
    const mine = await createArtifact(bob, 'bob-ws', {
      type: 'test',
      files: [declare('mine.txt', content)],
    });
    assert.equal(mine.files[0].complete, true);
    assert.ok((await bob.get(fileUrl(mine.id as number, 'mine.txt'))).raw.equals(content));
  });

  it('does not complete a file from content that was declared but never uploaded', async () => {
    const content = uniqueContent(100);
    await createArtifact(alice, 'alice-private', {
      type: 'test',
      files: [declare('pending.bin', content)],
    });
    const again = await createArtifact(alice, 'alice-other', {
      type: 'test',
      files: [declare('pending.bin', content)],
    });
    assert.equal(again.files[0].complete, false);
    assert.ok(!(await listBlobs(server)).includes(sha256Of(content)));
  });
});
