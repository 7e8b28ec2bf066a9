import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiAs, createUserWithToken, type Api } from '../helpers/api.ts';
import {
  createArtifact,
  createUploadedArtifact,
  createWorkspace,
  declare,
  expectError,
  expectStatus,
  fileUrl,
  uniqueContent,
  uploadFile,
} from '../helpers/artifacts.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

forEachDatabase((backend) => {
  let server: TestServer;
  let alice: Api;
  let bob: Api;
  let workspaces = 0;
  /** A fresh workspace of alice's, so that tests do not see each other's artifacts. */
  const newWorkspace = async (options: Parameters<typeof createWorkspace>[2] = {}) => {
    workspaces += 1;
    const name = `ws-${workspaces}`;
    await createWorkspace(alice, name, options);
    return name;
  };

  before(async () => {
    server = await startTestServer(backend);
    alice = apiAs(server, await createUserWithToken(server, 'alice'));
    bob = apiAs(server, await createUserWithToken(server, 'bob'));
  });
  after(async () => {
    await server.close();
  });

  describe('create, show, list', () => {
    it('creates an artifact with its type, data, files and relations, and shows it', async () => {
      const ws = await newWorkspace();
      const target = await createArtifact(alice, ws, { type: 'debian:source-package' });
      const content = uniqueContent();
      const created = await createArtifact(alice, ws, {
        type: 'debian:binary-package',
        data: { package: 'hello', nested: { list: [1, 'two', null] } },
        files: [declare('out/hello_1.0_amd64.deb', content)],
        relations: [{ type: 'built-using', target: target.id }],
      });
      assert.equal(typeof created.id, 'number');
      assert.equal(created.workspace, ws);
      assert.equal(created.type, 'debian:binary-package');
      assert.deepEqual(created.data, { package: 'hello', nested: { list: [1, 'two', null] } });
      assert.deepEqual(created.files, [
        { ...declare('out/hello_1.0_amd64.deb', content), complete: false },
      ]);
      assert.deepEqual(created.relations, [{ type: 'built-using', target: target.id }]);
      assert.equal(created.immutable, false);
      assert.equal(created.created_by, 'alice');
      assert.equal(created.expires_at, null);
      assert.ok(Math.abs(Date.parse(created.created_at) - Date.now()) < 60_000);
      assert.equal(created.updated_at, created.created_at);

      const shown = await alice.get(`/api/v1/artifacts/${created.id}`);
      expectStatus(shown, 200);
      assert.deepEqual(shown.body, created);
    });

    it('answers a creation with its files in the order showing it lists them: by byte order', async () => {
      const ws = await newWorkspace();
      // Byte order, whatever the database's collation: upper case before lower, ASCII before é.
      const paths = ['b.txt', 'é.txt', 'B.txt', 'a-b.txt', 'ab.txt', '_x.txt', 'a.txt'];
      const created = await createArtifact(alice, ws, {
        type: 'test:files',
        files: paths.map((path) => declare(path, uniqueContent())),
      });
      const listed = (created.files as { path: string }[]).map((f) => f.path);
      assert.deepEqual(listed, ['B.txt', '_x.txt', 'a-b.txt', 'a.txt', 'ab.txt', 'b.txt', 'é.txt']);
      const shown = await alice.get(`/api/v1/artifacts/${created.id}`);
      expectStatus(shown, 200);
      assert.deepEqual(shown.body, created);
      // ASCII alone (sorted as strings, not as bytes): the same order.
      const ascii = await createArtifact(alice, ws, {
        type: 'test:files',
        files: paths.filter((p) => p !== 'é.txt').map((path) => declare(path, uniqueContent())),
      });
      assert.deepEqual(
        (ascii.files as { path: string }[]).map((f) => f.path),
        listed.filter((p) => p !== 'é.txt'),
      );
      const shownAscii = await alice.get(`/api/v1/artifacts/${ascii.id}`);
      assert.deepEqual(shownAscii.body, ascii);
    });

    it('lists newest first, filtered by type, paged, with the total before paging', async () => {
      const ws = await newWorkspace();
      const ids: number[] = [];
      for (const type of ['kind-a', 'kind-b', 'kind-a', 'kind-b', 'kind-a']) {
        ids.push((await createArtifact(alice, ws, { type, data: { secret: 1 } })).id as number);
      }
      const newestFirst = [...ids].reverse();
      const list = async (query: string) => {
        const response = await alice.get(`/api/v1/workspaces/${ws}/artifacts${query}`);
        expectStatus(response, 200);
        return {
          ids: (response.body.items as { id: number }[]).map((i) => i.id),
          total: response.body.total as number,
          items: response.body.items as Record<string, unknown>[],
        };
      };

      const all = await list('');
      assert.deepEqual(all.ids, newestFirst);
      assert.equal(all.total, 5);
      // A summary: no data, files or relations.
      assert.deepEqual(Object.keys(all.items[0]!).sort(), [
        'created_at',
        'created_by',
        'expires_at',
        'id',
        'immutable',
        'type',
        'updated_at',
        'workspace',
      ]);
      const kindA = await list('?type=kind-a');
      assert.deepEqual(kindA.ids, [ids[4], ids[2], ids[0]]);
      assert.equal(kindA.total, 3);
      const page = await list('?limit=2&offset=1');
      assert.deepEqual(page.ids, newestFirst.slice(1, 3));
      assert.equal(page.total, 5);
      const lastOfA = await list('?type=kind-a&limit=2&offset=2');
      assert.deepEqual(lastOfA.ids, [ids[0]]);
      assert.equal(lastOfA.total, 3);
      const beyond = await list('?offset=10');
      assert.deepEqual(beyond.ids, []);
      assert.equal(beyond.total, 5);
      const none = await list('?type=kind-c');
      assert.deepEqual(none.ids, []);
      assert.equal(none.total, 0);
    });
  });

  describe('changes', () => {
    it('sets data, replacing the old data, and moves updated_at', async () => {
      const ws = await newWorkspace();
      const created = await createArtifact(alice, ws, { type: 'test', data: { old: true } });
      await sleep(5);
      const patched = await alice.patch(`/api/v1/artifacts/${created.id}`, {
        data: { new: [1, 2] },
      });
      expectStatus(patched, 200);
      assert.deepEqual(patched.body.data, { new: [1, 2] });
      assert.ok(Date.parse(patched.body.updated_at) > Date.parse(created.updated_at));
      assert.equal(patched.body.created_at, created.created_at);
      const shown = await alice.get(`/api/v1/artifacts/${created.id}`);
      assert.deepEqual(shown.body.data, { new: [1, 2] });
    });

    it('expires artifacts when told, never when told null, else after the workspace default', async () => {
      const ws = await newWorkspace({ default_expiration: 3600 });
      const before = Date.now();
      const byDefault = await createArtifact(alice, ws, { type: 'test' });
      const after = Date.now();
      const expiry = Date.parse(byDefault.expires_at);
      assert.ok(expiry >= before + 3600_000 && expiry <= after + 3600_000, byDefault.expires_at);

      const explicit = await createArtifact(alice, ws, {
        type: 'test',
        expires_at: '2031-01-02T03:04:05.000Z',
      });
      assert.equal(explicit.expires_at, '2031-01-02T03:04:05.000Z');
      const never = await createArtifact(alice, ws, { type: 'test', expires_at: null });
      assert.equal(never.expires_at, null);

      const cleared = await alice.patch(`/api/v1/artifacts/${byDefault.id}`, { expires_at: null });
      expectStatus(cleared, 200);
      assert.equal(cleared.body.expires_at, null);
      const set = await alice.patch(`/api/v1/artifacts/${never.id}`, {
        expires_at: '2030-06-01T00:00:00.000Z',
      });
      assert.equal(set.body.expires_at, '2030-06-01T00:00:00.000Z');
      assert.equal(
        (await alice.get(`/api/v1/artifacts/${never.id}`)).body.expires_at,
        '2030-06-01T00:00:00.000Z',
      );

      const keepForever = await newWorkspace();
      assert.equal((await createArtifact(alice, keepForever, { type: 'test' })).expires_at, null);
    });

    it('attaches and removes files', async () => {
      const ws = await newWorkspace();
      const { id } = await createArtifact(alice, ws, { type: 'test' });
      const content = uniqueContent();
      const attached = await alice.post(
        `/api/v1/artifacts/${id}/files`,
        declare('a/b.txt', content),
      );
      expectStatus(attached, 201);
      assert.deepEqual(attached.body, { ...declare('a/b.txt', content), complete: false });
      assert.deepEqual((await alice.get(`/api/v1/artifacts/${id}`)).body.files, [attached.body]);
      expectError(
        await alice.post(`/api/v1/artifacts/${id}/files`, declare('a/b.txt', uniqueContent())),
        409,
        'already_exists',
      );

      expectStatus(await alice.delete(fileUrl(id, 'a/b.txt')), 204);
      assert.deepEqual((await alice.get(`/api/v1/artifacts/${id}`)).body.files, []);
      expectError(await alice.delete(fileUrl(id, 'a/b.txt')), 404, 'not_found');
    });

    it('adds and removes relations', async () => {
      const ws = await newWorkspace();
      const a = await createArtifact(alice, ws, { type: 'test' });
      const b = await createArtifact(alice, ws, { type: 'test' });
      const c = await createArtifact(alice, ws, { type: 'test' });
      const added = await alice.post(`/api/v1/artifacts/${a.id}/relations`, {
        type: 'relates-to',
        target: c.id,
      });
      expectStatus(added, 201);
      assert.deepEqual(added.body.relations, [{ type: 'relates-to', target: c.id }]);
      await alice.post(`/api/v1/artifacts/${a.id}/relations`, { type: 'extends', target: b.id });
      // Adding the same relation twice keeps one.
      await alice.post(`/api/v1/artifacts/${a.id}/relations`, { type: 'extends', target: b.id });
      assert.deepEqual((await alice.get(`/api/v1/artifacts/${a.id}`)).body.relations, [
        { type: 'extends', target: b.id },
        { type: 'relates-to', target: c.id },
      ]);

      expectStatus(await alice.delete(`/api/v1/artifacts/${a.id}/relations/extends/${b.id}`), 204);
      assert.deepEqual((await alice.get(`/api/v1/artifacts/${a.id}`)).body.relations, [
        { type: 'relates-to', target: c.id },
      ]);
      expectError(
        await alice.delete(`/api/v1/artifacts/${a.id}/relations/extends/${b.id}`),
        404,
        'not_found',
      );
      expectError(
        await alice.post(`/api/v1/artifacts/${a.id}/relations`, { type: 'extends', target: a.id }),
        400,
        'bad_request',
      );
    });
  });

  describe('immutable', () => {
    it('refuses every change once immutable', async () => {
      const ws = await newWorkspace();
      const other = await createArtifact(alice, ws, { type: 'test' });
      const content = uniqueContent();
      const id = await createUploadedArtifact(alice, ws, 'f.txt', content, {
        data: { v: 1 },
        relations: [{ type: 'relates-to', target: other.id }],
      });
      const made = await alice.patch(`/api/v1/artifacts/${id}`, { immutable: true });
      expectStatus(made, 200);
      assert.equal(made.body.immutable, true);
      const frozen = (await alice.get(`/api/v1/artifacts/${id}`)).body;

      const url = `/api/v1/artifacts/${id}`;
      const refused = [
        await alice.patch(url, { data: { v: 2 } }),
        await alice.patch(url, { expires_at: '2030-01-01T00:00:00Z' }),
        await alice.patch(url, { immutable: true }),
        await alice.post(`${url}/files`, declare('g.txt', uniqueContent())),
        await alice.delete(fileUrl(id, 'f.txt')),
        await alice.put(fileUrl(id, 'f.txt'), content, {
          'content-type': 'application/octet-stream',
        }),
        await alice.post(`${url}/relations`, { type: 'extends', target: other.id }),
        await alice.delete(`${url}/relations/relates-to/${other.id}`),
      ];
      for (const response of refused) {
        expectError(response, 409, 'artifact_immutable');
      }
      assert.deepEqual((await alice.get(url)).body, frozen);
    });

    it('may be deleted by an owner of the workspace, not by a writer', async () => {
      const ws = await newWorkspace();
      expectStatus(
        await alice.call('PUT', `/api/v1/workspaces/${ws}/members/bob`, { role: 'writer' }),
        200,
      );
      const { id } = await createArtifact(alice, ws, { type: 'test' });
      expectStatus(await alice.patch(`/api/v1/artifacts/${id}`, { immutable: true }), 200);
      expectError(await bob.delete(`/api/v1/artifacts/${id}`), 403, 'forbidden');
      expectStatus(await alice.get(`/api/v1/artifacts/${id}`), 200);
      expectStatus(await alice.delete(`/api/v1/artifacts/${id}`), 204);
      expectError(await alice.get(`/api/v1/artifacts/${id}`), 404, 'not_found');
    });

    it('cannot be made immutable before every file is uploaded', async () => {
      const ws = await newWorkspace();
      const content = uniqueContent();
      const { id } = await createArtifact(alice, ws, {
        type: 'test',
        files: [declare('pending.bin', content)],
      });
      expectError(
        await alice.patch(`/api/v1/artifacts/${id}`, { immutable: true }),
        409,
        'incomplete_upload',
      );
      assert.equal((await alice.get(`/api/v1/artifacts/${id}`)).body.immutable, false);
      await uploadFile(alice, id as number, 'pending.bin', content);
      expectStatus(await alice.patch(`/api/v1/artifacts/${id}`, { immutable: true }), 200);
    });
  });

  describe('delete', () => {
    it('deletes an artifact, but one another refers to only after the referrer', async () => {
      const ws = await newWorkspace();
      const source = await createArtifact(alice, ws, { type: 'test' });
      const binary = await createArtifact(alice, ws, {
        type: 'test',
        relations: [{ type: 'built-using', target: source.id }],
      });
      expectError(await alice.delete(`/api/v1/artifacts/${source.id}`), 409, 'artifact_in_use');
      expectStatus(await alice.get(`/api/v1/artifacts/${source.id}`), 200);

      expectStatus(await alice.delete(`/api/v1/artifacts/${binary.id}`), 204);
      expectError(await alice.get(`/api/v1/artifacts/${binary.id}`), 404, 'not_found');
      expectStatus(await alice.delete(`/api/v1/artifacts/${source.id}`), 204);
      expectError(await alice.get(`/api/v1/artifacts/${source.id}`), 404, 'not_found');
      const list = await alice.get(`/api/v1/workspaces/${ws}/artifacts`);
      assert.deepEqual(list.body, { items: [], total: 0 });
    });
  });
});
