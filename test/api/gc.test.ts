import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { collectGarbage } from '../../src/server/artifacts/gc.ts';
import { createFsFileStore } from '../../src/server/files/fs-file-store.ts';
import type { GcResult } from '../../src/protocol/artifacts.schema.ts';
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

const hour = 3600 * 1000;
/** An instant `hours` from now, as a timestamp for `expires_at`. */
const inHours = (hours: number) => new Date(Date.now() + hours * hour).toISOString();

/**
 * The garbage collector: expired artifacts no artifact refers to, then content no
 * artifact uses. Each test has a server of its own, since a collection is global.
 */
forEachDatabase((backend) => {
  let server: TestServer;
  let alice: Api;
  /** Collects garbage as if it were `hours` from now. */
  let collectIn: (hours: number) => Promise<GcResult>;

  beforeEach(async () => {
    server = await startTestServer(backend);
    alice = apiAs(server, await createUserWithToken(server, 'alice'));
    await createWorkspace(alice, 'ws');
    const store = await createFsFileStore(join(server.dataDir, 'files'));
    collectIn = (hours) =>
      collectGarbage(server.database.db, store, new Date(Date.now() + hours * hour));
  });
  afterEach(async () => {
    await server.close();
  });

  const create = async (expiresInHours: number | null, relations: number[] = []) =>
    (
      await createArtifact(alice, 'ws', {
        type: 'test',
        expires_at: expiresInHours === null ? null : inHours(expiresInHours),
        relations: relations.map((target) => ({ type: 'built-using', target })),
      })
    ).id as number;
  const exists = async (id: number) => {
    const response = await alice.get(`/api/v1/artifacts/${id}`);
    assert.ok(response.status === 200 || response.status === 404, String(response.status));
    return response.status === 200;
  };
  const storedRows = async () =>
    (await server.database.db.selectFrom('files').select('sha256').execute())
      .map((r) => r.sha256)
      .sort();

  describe('artifacts', () => {
    it('deletes expired artifacts no artifact refers to, none before they expire', async () => {
      const soon = await create(1);
      const later = await create(3);
      const never = await create(null);
      assert.deepEqual(await collectIn(0), {
        artifacts_deleted: 0,
        files_deleted: 0,
        bytes_freed: 0,
      });
      assert.ok(await exists(soon));

      assert.equal((await collectIn(2)).artifacts_deleted, 1);
      assert.ok(!(await exists(soon)));
      assert.ok(await exists(later));
      assert.equal((await collectIn(4)).artifacts_deleted, 1);
      assert.ok(!(await exists(later)));
      assert.ok(await exists(never));
    });

    it('never deletes an artifact without expiry', async () => {
      const ids = [await create(null), await create(null)];
      await create(null, [ids[0]!]);
      const result = await collectIn(24 * 365 * 1000);
      assert.equal(result.artifacts_deleted, 0);
      for (const id of ids) {
        assert.ok(await exists(id));
      }
    });

    it('keeps an expired artifact that a live one refers to, until it no longer does', async () => {
      const expired = await create(1);
      const live = await create(null, [expired]);
      assert.equal((await collectIn(2)).artifacts_deleted, 0);
      assert.ok(await exists(expired));

      expectStatus(
        await alice.delete(`/api/v1/artifacts/${live}/relations/built-using/${expired}`),
        204,
      );
      assert.equal((await collectIn(2)).artifacts_deleted, 1);
      assert.ok(!(await exists(expired)));
      assert.ok(await exists(live));
    });

    it('deletes a chain of expired artifacts A → B → C completely', async () => {
      const c = await create(1);
      const b = await create(1, [c]);
      const a = await create(1, [b]);
      assert.equal((await collectIn(2)).artifacts_deleted, 3);
      for (const id of [a, b, c]) {
        assert.ok(!(await exists(id)));
      }
    });

    it('keeps a chain of expired artifacts whose head is live', async () => {
      const c = await create(1);
      const b = await create(1, [c]);
      const head = await create(5, [b]);
      assert.equal((await collectIn(2)).artifacts_deleted, 0);
      assert.ok((await exists(b)) && (await exists(c)));
      // Once the head expires, the whole chain goes.
      assert.equal((await collectIn(6)).artifacts_deleted, 3);
      assert.ok(!(await exists(head)));
    });
  });

  describe('files', () => {
    it('removes content no artifact uses, from disk and database; keeps content in use', async () => {
      const shared = uniqueContent(1000);
      const unique = uniqueContent(3000);
      const expired = await createArtifact(alice, 'ws', {
        type: 'test',
        expires_at: inHours(1),
        files: [declare('shared', shared), declare('unique', unique)],
      });
      await uploadFile(alice, expired.id as number, 'shared', shared);
      await uploadFile(alice, expired.id as number, 'unique', unique);
      const live = await createArtifact(alice, 'ws', {
        type: 'test',
        files: [declare('also-shared', shared)],
      });
      assert.equal(live.files[0].complete, true);
      assert.deepEqual(
        (await listBlobs(server)).sort(),
        [sha256Of(shared), sha256Of(unique)].sort(),
      );

      assert.deepEqual(await collectIn(2), {
        artifacts_deleted: 1,
        files_deleted: 1,
        bytes_freed: unique.length,
      });
      assert.deepEqual(await listBlobs(server), [sha256Of(shared)]);
      assert.deepEqual(await storedRows(), [sha256Of(shared)]);
      const download = await alice.get(fileUrl(live.id as number, 'also-shared'));
      expectStatus(download, 200);
      assert.ok(download.raw.equals(shared));
      // Nothing is left to collect.
      assert.deepEqual(await collectIn(2), {
        artifacts_deleted: 0,
        files_deleted: 0,
        bytes_freed: 0,
      });
    });

    it('keeps content a live artifact declared but has not uploaded yet', async () => {
      const content = uniqueContent(2000);
      await createUploadedArtifact(alice, 'ws', 'f', content, { expires_at: inHours(1) });
      // Bob cannot read alice's workspace: his declaration waits for an upload.
      const bob = apiAs(server, await createUserWithToken(server, 'bob'));
      await createWorkspace(bob, 'bob-ws');
      const pending = await createArtifact(bob, 'bob-ws', {
        type: 'test',
        files: [declare('g', content)],
      });
      assert.equal(pending.files[0].complete, false);

      assert.deepEqual(await collectIn(2), {
        artifacts_deleted: 1,
        files_deleted: 0,
        bytes_freed: 0,
      });
      assert.deepEqual(await listBlobs(server), [sha256Of(content)]);
      assert.deepEqual(await storedRows(), [sha256Of(content)]);
      await uploadFile(bob, pending.id as number, 'g', content);
      assert.ok((await bob.get(fileUrl(pending.id as number, 'g'))).raw.equals(content));
    });

    it('counts the bytes of each piece of content freed, once', async () => {
      const a = uniqueContent(1234);
      const b = uniqueContent(5678);
      const c = uniqueContent(91);
      const first = await createArtifact(alice, 'ws', {
        type: 'test',
        expires_at: inHours(1),
        // The same content under two names is stored, and freed, once.
        files: [declare('a', a), declare('a-again', a), declare('b', b)],
      });
      await uploadFile(alice, first.id as number, 'a', a);
      await uploadFile(alice, first.id as number, 'b', b);
      // One upload of `a` completes both names of it.
      const files = (await alice.get(`/api/v1/artifacts/${first.id}`)).body.files as {
        complete: boolean;
      }[];
      assert.deepEqual(
        files.map((f) => f.complete),
        [true, true, true],
      );
      // Deleted by hand: its content is left for the collector.
      const second = await createUploadedArtifact(alice, 'ws', 'c', c);
      expectStatus(await alice.delete(`/api/v1/artifacts/${second}`), 204);
      // Declared and never uploaded: nothing stored, nothing to free.
      await createArtifact(alice, 'ws', {
        type: 'test',
        expires_at: inHours(1),
        files: [declare('never', uniqueContent(100_000))],
      });

      assert.deepEqual(await collectIn(2), {
        artifacts_deleted: 2,
        files_deleted: 3,
        bytes_freed: a.length + b.length + c.length,
      });
      assert.deepEqual(await listBlobs(server), []);
      assert.deepEqual(await storedRows(), []);
    });
  });

  describe('the admin endpoint', () => {
    it('collects now, for admins only', async () => {
      const content = uniqueContent(777);
      const expired = await createUploadedArtifact(alice, 'ws', 'f', content, {
        expires_at: inHours(-1),
      });
      const live = await createUploadedArtifact(alice, 'ws', 'g', uniqueContent(10), {
        expires_at: inHours(1),
      });
      expectError(await alice.post('/api/v1/admin/gc'), 403, 'forbidden');
      expectError(await apiAs(server).post('/api/v1/admin/gc'), 401, 'unauthenticated');
      assert.ok(await exists(expired));

      const collected = await apiAs(server, server.adminToken).post('/api/v1/admin/gc');
      expectStatus(collected, 200);
      assert.deepEqual(collected.body, {
        artifacts_deleted: 1,
        files_deleted: 1,
        bytes_freed: 777,
      });
      assert.ok(!(await exists(expired)));
      assert.ok(await exists(live));
      assert.ok(!(await listBlobs(server)).includes(sha256Of(content)));
    });
  });
});
