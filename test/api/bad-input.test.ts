import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiAs, createUserWithToken, type Api, type ApiResponse } from '../helpers/api.ts';
import {
  createArtifact,
  createWorkspace,
  declare,
  expectError,
  expectStatus,
  listBlobs,
  listStaged,
  sha256Of,
  uniqueContent,
} from '../helpers/artifacts.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Bad requests to create artifacts and declare files: each is refused with its
 * documented code, and none leaves anything stored. Bad uploads are in
 * `bad-uploads.test.ts`.
 */
forEachDatabase((backend) => {
  let server: TestServer;
  let alice: Api;
  let bob: Api;
  /** An artifact of alice's, for declaring files on. */
  let holder: number;

  before(async () => {
    server = await startTestServer(backend, { 'max-file-size': '1M' });
    alice = apiAs(server, await createUserWithToken(server, 'alice'));
    bob = apiAs(server, await createUserWithToken(server, 'bob'));
    await createWorkspace(alice, 'empty');
    await createWorkspace(alice, 'holder');
    await createWorkspace(bob, 'bob-private');
    holder = (await createArtifact(alice, 'holder', { type: 'holder' })).id as number;
  });
  after(async () => {
    await server.close();
  });

  /** Asserts that no artifact was created in `empty`, and no file stored or staged. */
  const expectNothingStored = async () => {
    const list = await alice.get('/api/v1/workspaces/empty/artifacts');
    assert.deepEqual(list.body, { items: [], total: 0 });
    assert.deepEqual((await alice.get(`/api/v1/artifacts/${holder}`)).body.files, []);
    assert.deepEqual(await listBlobs(server), []);
    assert.deepEqual(await listStaged(server), []);
  };
  const createInEmpty = (body: unknown) => alice.post('/api/v1/workspaces/empty/artifacts', body);
  const withFile = (path: string, content = uniqueContent(8)) => ({
    type: 'test',
    files: [declare(path, content)],
  });
  /** Declares a file both ways: in a new artifact, and attached to an existing one. */
  const declareBoth = async (
    file: { path: string; size: number; sha256: string },
    check: (response: ApiResponse) => void,
  ) => {
    check(await createInEmpty({ type: 'test', files: [file] }));
    check(await alice.post(`/api/v1/artifacts/${holder}/files`, file));
    await expectNothingStored();
  };

  describe('file names', () => {
    const badNames: readonly [string, string][] = [
      ['parent segment', '../x'],
      ['parent segments deeper', 'a/../../x'],
      ['parent segment at the end', 'a/..'],
      ['absolute path', '/etc/passwd'],
      ['empty segment', 'a//b'],
      ['trailing slash', 'a/'],
      ['. segment', './x'],
      ['. segment inside', 'a/./b'],
      ['lone .', '.'],
      ['NUL', 'a\u0000b'],
      ['newline', 'a\nb'],
      ['carriage return', 'a\rb'],
      ['tab', 'a\tb'],
      ['escape', 'a\u001bb'],
      ['DEL', 'a\u007fb'],
      ['unpaired surrogate', 'a\ud800b'],
      ['backslash', 'a\\b'],
      ['backslash traversal', '..\\..\\x'],
      ['segment over 255 bytes', `d/${'x'.repeat(256)}`],
      ['segment over 255 bytes in UTF-8', 'é'.repeat(128)],
      [
        'name over 4096 bytes in UTF-8',
        Array.from({ length: 21 }, () => 'é'.repeat(100)).join('/'),
      ],
    ];
    for (const [what, name] of badNames) {
      it(`refuses a name with ${what} (invalid_file_name)`, async () => {
        await declareBoth(declare(name, uniqueContent(8)), (response) => {
          expectError(response, 400, 'invalid_file_name');
        });
      });
    }

    it('refuses a name over 4096 characters, and an empty one (validation_failed)', async () => {
      for (const name of [Array.from({ length: 20 }, () => 'x'.repeat(250)).join('/'), '']) {
        await declareBoth(declare(name, uniqueContent(8)), (response) => {
          expectError(response, 400, 'validation_failed');
        });
      }
    });

    it('refuses the same path twice in one declaration', async () => {
      expectError(
        await createInEmpty({
          type: 'test',
          files: [declare('same', uniqueContent(8)), declare('same', uniqueContent(9))],
        }),
        400,
        'invalid_file_name',
      );
      await expectNothingStored();
    });

    it('accepts a name of 4096 bytes and 255-byte segments, not one byte more', async () => {
      const longest = Array.from({ length: 17 }, () => 'x'.repeat(240)).join('/');
      assert.equal(Buffer.byteLength(longest), 4096);
      const oneByteMore = `é${longest.slice(1)}`;
      assert.equal(oneByteMore.length, 4096);
      expectError(await createInEmpty(withFile(oneByteMore)), 400, 'invalid_file_name');
      expectError(await createInEmpty(withFile('y'.repeat(256))), 400, 'invalid_file_name');
      await expectNothingStored();

      for (const name of [longest, 'y'.repeat(255), 'é'.repeat(127)]) {
        const accepted = await alice.post('/api/v1/workspaces/holder/artifacts', withFile(name));
        expectStatus(accepted, 201);
        assert.equal(accepted.body.files[0].path, name);
        expectStatus(await alice.delete(`/api/v1/artifacts/${accepted.body.id}`), 204);
      }
    });
  });

  describe('relations', () => {
    it('refuses an unknown relation type', async () => {
      const target = await createArtifact(alice, 'holder', { type: 'target' });
      for (const type of ['depends-on', 'BUILT-USING', '']) {
        expectError(
          await createInEmpty({ type: 'test', relations: [{ type, target: target.id }] }),
          400,
          'invalid_relation_type',
        );
        expectError(
          await alice.post(`/api/v1/artifacts/${holder}/relations`, { type, target: target.id }),
          400,
          'invalid_relation_type',
        );
      }
      expectError(
        await alice.delete(`/api/v1/artifacts/${holder}/relations/depends-on/${target.id}`),
        400,
        'invalid_relation_type',
      );
      assert.deepEqual((await alice.get(`/api/v1/artifacts/${holder}`)).body.relations, []);
      expectStatus(await alice.delete(`/api/v1/artifacts/${target.id}`), 204);
      await expectNothingStored();
    });

    it('refuses a relation to an artifact that does not exist or cannot be seen', async () => {
      const hidden = await createArtifact(bob, 'bob-private', { type: 'hidden' });
      for (const target of [hidden.id as number, 999_999, Number.MAX_SAFE_INTEGER]) {
        expectError(
          await createInEmpty({ type: 'test', relations: [{ type: 'extends', target }] }),
          404,
          'not_found',
        );
        expectError(
          await alice.post(`/api/v1/artifacts/${holder}/relations`, { type: 'extends', target }),
          404,
          'not_found',
        );
      }
      // Bob's artifact is still free of referrers: he can delete it.
      expectStatus(await bob.delete(`/api/v1/artifacts/${hidden.id}`), 204);
      await expectNothingStored();
    });
  });

  describe('sizes and bodies', () => {
    it('refuses a declared size over max-file-size (413 too_large)', async () => {
      await declareBoth(
        { path: 'huge.iso', size: 1024 * 1024 + 1, sha256: sha256Of('x') },
        (response) => {
          expectError(response, 413, 'too_large');
        },
      );
      // The limit itself is allowed.
      const atLimit = await alice.post('/api/v1/workspaces/holder/artifacts', {
        type: 'test',
        files: [{ path: 'max.iso', size: 1024 * 1024, sha256: sha256Of('x') }],
      });
      expectStatus(atLimit, 201);
      expectStatus(await alice.delete(`/api/v1/artifacts/${atLimit.body.id}`), 204);
    });

    it('refuses malformed JSON', async () => {
      for (const body of ['{"type": "test",', '{type: test}', 'null x']) {
        const response = await alice.call('POST', '/api/v1/workspaces/empty/artifacts', body, {
          'content-type': 'application/json',
        });
        expectError(response, 400, 'malformed_json');
      }
      await expectNothingStored();
    });

    it('refuses JSON fields that fail the schema', async () => {
      const content = uniqueContent(8);
      const bodies: unknown[] = [
        {},
        { type: 'Upper' },
        { type: '' },
        { type: 'test', unknown: 1 },
        { type: 'test', data: [1, 2] },
        { type: 'test', data: 'text' },
        { type: 'test', expires_at: 'tomorrow' },
        { type: 'test', files: {} },
        { type: 'test', files: [{ path: 'a', size: -1, sha256: sha256Of(content) }] },
        { type: 'test', files: [{ path: 'a', size: 1.5, sha256: sha256Of(content) }] },
        { type: 'test', files: [{ path: 'a', size: 8, sha256: 'ABC' }] },
        { type: 'test', files: [{ path: 'a', size: 8, sha256: sha256Of(content).toUpperCase() }] },
        { type: 'test', files: [{ path: 'a', size: 8 }] },
        { type: 'test', files: [{ ...declare('a', content), extra: true }] },
        { type: 'test', relations: [{ type: 'extends', target: 0 }] },
        { type: 'test', relations: [{ type: 'extends', target: 'one' }] },
      ];
      for (const body of bodies) {
        const response = await createInEmpty(body);
        assert.equal(response.body.error?.code, 'validation_failed', JSON.stringify(body));
        expectError(response, 400, 'validation_failed');
      }
      expectError(
        await alice.patch(`/api/v1/artifacts/${holder}`, { immutable: false }),
        400,
        'validation_failed',
      );
      expectError(await alice.get('/api/v1/artifacts/0'), 400, 'validation_failed');
      expectError(await alice.get('/api/v1/artifacts/abc'), 400, 'validation_failed');
      expectError(
        await alice.get('/api/v1/workspaces/empty/artifacts?limit=0'),
        400,
        'validation_failed',
      );
      await expectNothingStored();
    });

    it('refuses data that PostgreSQL cannot store (validation_failed)', async () => {
      const unstorable = [
        { text: 'a\u0000b' },
        { 'key\u0000': 1 },
        { nested: { list: [1, 'x\udc00'] } },
        { '\ud83e': true },
      ];
      for (const data of unstorable) {
        expectError(await createInEmpty({ type: 'test', data }), 400, 'validation_failed');
        expectError(
          await alice.patch(`/api/v1/artifacts/${holder}`, { data }),
          400,
          'validation_failed',
        );
      }
      assert.deepEqual((await alice.get(`/api/v1/artifacts/${holder}`)).body.data, {});
      // Other characters, a surrogate pair among them, are stored as sent.
      const fine = { text: 'tab\there \u0001 🦀 \u007f é', '🦀': ['\ud83e\udd80'] };
      const stored = await alice.patch(`/api/v1/artifacts/${holder}`, { data: fine });
      expectStatus(stored, 200);
      assert.deepEqual(stored.body.data, fine);
      expectStatus(await alice.patch(`/api/v1/artifacts/${holder}`, { data: {} }), 200);
      await expectNothingStored();
    });

    it('refuses ids and offsets beyond 2^53 - 1 (validation_failed)', async () => {
      for (const id of ['9007199254740992', '100000000000000000000', '9223372036854775807']) {
        expectError(await alice.get(`/api/v1/artifacts/${id}`), 400, 'validation_failed');
      }
      expectError(
        await alice.get('/api/v1/workspaces/empty/artifacts?offset=100000000000000000000'),
        400,
        'validation_failed',
      );
      expectError(
        await alice.call(
          'POST',
          '/api/v1/workspaces/empty/artifacts',
          '{"type":"test","relations":[{"type":"extends","target":100000000000000000000}]}',
          { 'content-type': 'application/json' },
        ),
        400,
        'validation_failed',
      );
      expectError(
        await alice.get(`/api/v1/artifacts/${Number.MAX_SAFE_INTEGER}`),
        404,
        'not_found',
      );
      await expectNothingStored();
    });

    it('answers an unknown endpoint with not_found', async () => {
      expectError(await alice.get('/api/v1/no-such-thing'), 404, 'not_found');
      expectError(await alice.post('/api/v1/artifacts', { type: 'test' }), 404, 'not_found');
      expectError(await apiAs(server).get('/nowhere'), 404, 'not_found');
      await expectNothingStored();
    });
  });
});
