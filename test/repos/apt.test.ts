/**
 * APT repositories end to end with the real apt: packages go in through the
 * API (uploaded .debs, server-side tasks), apt-get update and install them
 * from the served repository with `signed-by` and a private APT_CONFIG.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { apiAs, createUserWithToken, type Api } from '../helpers/api.ts';
import { createAptClient, type AptSourceSpec } from '../helpers/apt.ts';
import { createWorkspace, expectError, expectStatus } from '../helpers/artifacts.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { buildDeb, buildSourcePackage } from '../helpers/debs.ts';
import {
  ensureIndices,
  indexKeys,
  listChunks,
  listChunkTexts,
  saveChunks,
} from '../../src/server/repos/apt/index.repository.ts';
import { createChunkPrebuilder, prebuiltKey } from '../../src/server/repos/apt/chunk-prebuild.ts';
import { wholeDebBytes } from '../../src/server/repos/apt/binary-reading.ts';
import { maxDscSize } from '../../src/server/repos/apt/ingest.ts';
import { addBinaries, createChunkCursor } from '../../src/server/repos/apt/package.repository.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import {
  change,
  currentPublication,
  operate,
  packageLines,
  repoPath,
  uploadDebs,
} from './apt-helpers.ts';

forEachDatabase((backend) => {
  let server: TestServer;
  let alice: Api;
  let aliceToken: string;
  let bob: Api;
  let work: string;
  let clients = 0;

  before(async () => {
    // Includes read and add .debs two at a time, in the reading threads:
    // every include here goes through the slicing and reading a large one does.
    server = await startTestServer(backend, {}, { aptIncludeSlice: 2, aptReadHereUpTo: 0 });
    aliceToken = await createUserWithToken(server, 'alice');
    alice = apiAs(server, aliceToken);
    bob = apiAs(server, await createUserWithToken(server, 'bob'));
    await createWorkspace(alice, 'pub', { public: true });
    await createWorkspace(alice, 'priv', { public: false });
    work = await mkdtemp(join(tmpdir(), 'kiln-apt-test-'));
  });
  after(async () => {
    await server.close();
    await rm(work, { recursive: true, force: true });
  });

  const copyTo = async (from: string, to: string) => {
    await copyFile(from, to);
    return to;
  };

  const createRepository = async (workspace: string, name: string, architectures: string[]) => {
    const created = await alice.post(`/api/v1/workspaces/${workspace}/repositories`, {
      name,
      suites: [{ codename: 'bookworm', suite: 'stable', architectures }],
      valid_for: 86400,
    });
    expectStatus(created, 201);
    const key = await alice.get(`${repoPath(workspace, name)}/key`);
    expectStatus(key, 200);
    return { key: key.body as string, url: created.body.url as string };
  };

  /** The (one) suite of a repository, straight from the database. */
  const suiteOf = (repository: string) =>
    server.database.db
      .selectFrom('apt_suites as s')
      .innerJoin('apt_repositories as r', 'r.id', 's.repository_id')
      .select(['s.id', 's.components', 's.architectures'])
      .where('r.name', '=', repository)
      .executeTakeFirstOrThrow();

  /** A binary's row as an include would add it after reading its .deb. */
  const binaryRow = (suiteId: number, name: string, architecture: string) => {
    const poolPath = `pool/main/${name.slice(0, 1)}/${name}/${name}_1_${architecture}.deb`;
    return {
      suite_id: suiteId,
      component: 'main',
      package: name,
      version: '1',
      architecture,
      source: name,
      source_version: '1',
      pool_path: poolPath,
      // UTF-8 of two, three and four bytes a character: stored as bytes, read back as text.
      stanza: `Package: ${name}\nVersion: 1\nArchitecture: ${architecture}\nMaintainer: Zoë Ŀ € 𝄞 <z@example.org>\nFilename: ${poolPath}\n`,
    };
  };

  const aptFor = async (source: Omit<AptSourceSpec, 'suite' | 'components'>) => {
    clients += 1;
    return createAptClient(join(work, `apt-${clients}`), {
      suite: 'bookworm',
      components: ['main'],
      ...source,
    });
  };

  describe('installing with apt-get', () => {
    it('installs a package and its dependency, then upgrades it, per architecture', async () => {
      const { key, url } = await createRepository('pub', 'main', ['amd64', 'arm64']);
      assert.equal(url, `${server.url}/repos/pub/main`);
      const debs = join(work, 'install');
      const first = await uploadDebs(alice, 'pub', [
        await buildDeb(debs, {
          name: 'hello',
          version: '1.0-1',
          architecture: 'amd64',
          depends: 'hello-data (= 1.0-1)',
        }),
        await buildDeb(debs, { name: 'hello', version: '1.0-1', architecture: 'arm64' }),
        await buildDeb(debs, { name: 'hello-data', version: '1.0-1', architecture: 'all' }),
      ]);
      const published = await change(alice, 'pub', 'main', 'include', {
        suite: 'bookworm',
        artifacts: [first],
      });
      assert.equal(published, 2);

      const apt = await aptFor({ uri: url, architectures: ['amd64', 'arm64'], key });
      const update = await apt.update();
      assert.match(update, /InRelease/);
      assert.equal(await apt.candidate('hello'), '1.0-1');
      assert.equal(await apt.candidate('hello:arm64'), '1.0-1');
      assert.equal(await apt.candidate('hello-data'), '1.0-1');
      await apt.install('hello');
      assert.equal(await apt.installed('hello'), '1.0-1');
      assert.equal(await apt.installed('hello-data'), '1.0-1');
      assert.equal(
        await readFile(join(apt.dir, 'root/usr/share/doc/hello/hello'), 'utf8'),
        'hello 1.0-1\n',
      );

      const second = await uploadDebs(alice, 'pub', [
        await buildDeb(debs, {
          name: 'hello',
          version: '1.1-1',
          architecture: 'amd64',
          depends: 'hello-data (= 1.0-1)',
        }),
      ]);
      await change(alice, 'pub', 'main', 'include', { suite: 'bookworm', artifacts: [second] });
      await apt.update();
      assert.equal(await apt.candidate('hello'), '1.1-1');
      assert.equal(await apt.candidate('hello:arm64'), '1.0-1', 'arm64 keeps its version');
      await apt.install('hello');
      assert.equal(await apt.installed('hello'), '1.1-1');

      const release = await bob.get('/repos/pub/main/dists/bookworm/Release');
      expectStatus(release, 200);
      const text = release.body as string;
      assert.match(text, /^Acquire-By-Hash: yes$/m);
      assert.match(text, /^Suite: stable$/m);
      assert.match(text, /^Codename: bookworm$/m);
      assert.match(text, /^Valid-Until: /m);
      assert.match(text, /^SHA256:$/m);
      assert.match(text, / main\/binary-arm64\/Packages\.gz$/m);
      // Every index with its SHA256 and SHA512, each true of the file, which
      // is served under both by-hash paths (apt fetches by the strongest).
      const listed = releaseHashes(text);
      assert.deepEqual([...listed.SHA512.keys()].sort(), [...listed.SHA256.keys()].sort());
      assert.ok(listed.SHA512.size >= 6, `${listed.SHA512.size} files listed`);
      for (const [path, { digest, size }] of listed.SHA512) {
        const file = await bob.get(`/repos/pub/main/dists/bookworm/${path}`);
        expectStatus(file, 200);
        assert.equal(file.raw.length, size, path);
        assert.equal(createHash('sha512').update(file.raw).digest('hex'), digest, path);
        assert.equal(
          createHash('sha256').update(file.raw).digest('hex'),
          listed.SHA256.get(path)?.digest,
          path,
        );
        const dir = path.slice(0, path.lastIndexOf('/'));
        for (const [name, hash] of [
          ['SHA512', digest],
          ['SHA256', listed.SHA256.get(path)?.digest ?? ''],
        ] as const) {
          const hashed = await bob.get(
            `/repos/pub/main/dists/bookworm/${dir}/by-hash/${name}/${hash}`,
          );
          expectStatus(hashed, 200);
          assert.ok(hashed.raw.equals(file.raw), `${path} by ${name}`);
        }
      }
      const wrongLength = await bob.get(
        `/repos/pub/main/dists/bookworm/main/binary-amd64/by-hash/SHA512/${'a'.repeat(64)}`,
      );
      expectStatus(wrongLength, 404);
      assert.doesNotMatch(text, / dists\//, 'Release lists paths relative to the suite');
      assert.deepEqual(await packageLines(alice, 'pub', 'main'), [
        'bookworm hello 1.0-1 arm64',
        'bookworm hello 1.1-1 amd64',
        'bookworm hello-data 1.0-1 all',
      ]);
    });
  });

  describe('source packages', () => {
    it('apt-get source fetches a source package from Sources, checks and unpacks it', async () => {
      const { key, url } = await createRepository('pub', 'sources', ['amd64']);
      const dir = join(work, 'sources');
      await mkdir(dir, { recursive: true });
      const source = await uploadDebs(
        alice,
        'pub',
        await buildSourcePackage(dir, { name: 'hello-src', version: '1.0', content: 'hi\n' }),
        'debian:source-package',
      );
      await change(alice, 'pub', 'sources', 'include', { suite: 'bookworm', artifacts: [source] });

      const sources = await bob.get('/repos/pub/sources/dists/bookworm/main/source/Sources');
      expectStatus(sources, 200);
      assert.match(sources.body as string, /^Package: hello-src$/m);
      assert.match(sources.body as string, /^Directory: pool\/main\/h\/hello-src$/m);

      const apt = await aptFor({ uri: url, architectures: ['amd64'], key, sources: true });
      assert.match(await apt.update(), /main Sources/);
      // dpkg-source unpacks it after checking the files against the .dsc apt checked against Sources.
      const fetched = await apt.aptGet('source', 'hello-src');
      assert.equal(fetched.code, 0, fetched.output);
      assert.match(fetched.output, /dpkg-source: info: extracting hello-src in hello-src-1\.0/);
      assert.equal(await readFile(join(apt.dir, 'hello-src-1.0', 'README'), 'utf8'), 'hi\n');
      assert.equal(
        await readFile(join(apt.dir, 'hello-src_1.0.dsc'), 'utf8'),
        await readFile(join(dir, 'hello-src_1.0.dsc'), 'utf8'),
      );
    });
  });

  describe('large packages', () => {
    it('lists and installs a .deb larger than an include reads whole', async () => {
      const { key, url } = await createRepository('pub', 'large-debs', ['amd64']);
      const debs = join(work, 'large-debs');
      // Random bytes, stored uncompressed: a .deb as large as its content.
      const large = await buildDeb(debs, {
        name: 'large-dbgsym',
        version: '1',
        architecture: 'amd64',
        content: randomBytes(13 * 1024 * 1024).toString('base64'),
        compression: 'none',
      });
      const bytes = await readFile(large);
      assert.ok(bytes.length > wholeDebBytes, `${bytes.length} bytes`);
      const artifact = await uploadDebs(alice, 'pub', [
        await buildDeb(debs, { name: 'small-before', version: '1', architecture: 'amd64' }),
        large,
        await buildDeb(debs, { name: 'small-after', version: '1', architecture: 'all' }),
      ]);
      await change(alice, 'pub', 'large-debs', 'include', {
        suite: 'bookworm',
        artifacts: [artifact],
      });
      const packages = await bob.get(
        '/repos/pub/large-debs/dists/bookworm/main/binary-amd64/Packages',
      );
      expectStatus(packages, 200);
      const stanza = (packages.body as string)
        .split('\n\n')
        .find((p) => p.startsWith('Package: large-dbgsym\n'));
      assert.ok(stanza !== undefined, packages.body as string);
      assert.match(stanza, new RegExp(`^Size: ${bytes.length}$`, 'm'));
      assert.match(
        stanza,
        new RegExp(`^MD5sum: ${createHash('md5').update(bytes).digest('hex')}$`, 'm'),
      );
      assert.match(
        stanza,
        new RegExp(`^SHA256: ${createHash('sha256').update(bytes).digest('hex')}$`, 'm'),
      );
      assert.match(stanza, /^Filename: pool\/main\/l\/large-dbgsym\/large-dbgsym_1_amd64\.deb$/m);
      const apt = await aptFor({ uri: url, architectures: ['amd64'], key });
      await apt.update();
      for (const name of ['small-before', 'large-dbgsym', 'small-after']) {
        assert.equal(await apt.candidate(name), '1', name);
      }
      await apt.install('large-dbgsym');
      assert.equal(await apt.installed('large-dbgsym'), '1');

      // A large file that is no .deb, and a large .deb cut short: refused, naming the file.
      const junk = join(debs, 'junk_1_amd64.deb');
      await writeFile(junk, bytes.subarray(8));
      const cut = join(debs, 'cut_1_amd64.deb');
      await writeFile(cut, bytes.subarray(0, wholeDebBytes + 1));
      for (const [file, message] of [
        [junk, /junk_1_amd64\.deb .*not a Debian binary package/],
        [cut, /cut_1_amd64\.deb .*truncated/],
      ] as const) {
        const task = await operate(alice, 'pub', 'large-debs', 'include', {
          suite: 'bookworm',
          artifacts: [await uploadDebs(alice, 'pub', [file])],
        });
        assert.equal(task.result, 'failure', file);
        assert.match(task.message ?? '', message);
        assert.doesNotMatch(task.message ?? '', /\n/);
      }
      assert.deepEqual(await packageLines(alice, 'pub', 'large-debs'), [
        'bookworm large-dbgsym 1 amd64',
        'bookworm small-after 1 all',
        'bookworm small-before 1 amd64',
      ]);
    });
  });

  describe('private workspaces', () => {
    it("serves a private workspace's repository only with a member's token (apt's auth.conf)", async () => {
      const { key, url } = await createRepository('priv', 'secret', ['amd64']);
      const artifact = await uploadDebs(alice, 'priv', [
        await buildDeb(join(work, 'private'), {
          name: 'secret-tool',
          version: '2.0',
          architecture: 'amd64',
        }),
      ]);
      await change(alice, 'priv', 'secret', 'include', {
        suite: 'bookworm',
        artifacts: [artifact],
      });

      const withToken = await aptFor({
        uri: url,
        architectures: ['amd64'],
        key,
        auth: { login: 'alice', password: aliceToken },
      });
      await withToken.update();
      await withToken.install('secret-tool');
      assert.equal(await withToken.installed('secret-tool'), '2.0');

      const stranger = await aptFor({ uri: url, architectures: ['amd64'], key });
      const refused = await stranger.aptGet('update', '--error-on=any');
      assert.notEqual(refused.code, 0);
      assert.match(refused.output, /404/);
      assert.equal(await stranger.candidate('secret-tool'), undefined);

      // Bob, not a member, gets what a repository that does not exist gets.
      for (const path of [
        'dists/bookworm/InRelease',
        'key.asc',
        'pool/main/s/secret-tool/secret-tool_2.0_amd64.deb',
      ]) {
        const hidden = await bob.get(`/repos/priv/secret/${path}`);
        const absent = await bob.get(`/repos/nowhere/secret/${path}`);
        expectError(hidden, 404, 'not_found');
        assert.equal(
          (hidden.body.error.message as string).replace('priv', 'nowhere'),
          absent.body.error.message,
        );
      }
    });
  });

  describe('signatures', () => {
    it('a tampered InRelease makes apt report a bad signature and use nothing', async () => {
      const { key } = await createRepository('pub', 'signed', ['amd64']);
      const artifact = await uploadDebs(alice, 'pub', [
        await buildDeb(join(work, 'signed'), {
          name: 'signed',
          version: '1',
          architecture: 'amd64',
        }),
      ]);
      await change(alice, 'pub', 'signed', 'include', { suite: 'bookworm', artifacts: [artifact] });
      // A copy of the served tree (what `kiln repo export` writes), with one byte of InRelease changed.
      const tree = await alice.get(`${repoPath('pub', 'signed')}/tree`);
      expectStatus(tree, 200);
      const exported = join(work, 'tampered');
      for (const file of tree.body.items as { path: string }[]) {
        const served = await alice.get(`/repos/pub/signed/${file.path}`);
        expectStatus(served, 200);
        await mkdir(join(exported, file.path, '..'), { recursive: true });
        await writeFile(join(exported, file.path), served.raw);
      }
      assert.ok(
        (tree.body.items as { path: string }[]).some((f) => f.path.includes('/by-hash/SHA512/')),
      );
      // As exported, it is a repository apt reads (by SHA512, the strongest hash listed).
      const intact = await aptFor({ uri: `file:${exported}`, architectures: ['amd64'], key });
      await intact.update();
      assert.equal(await intact.candidate('signed'), '1');
      const served = await alice.get('/repos/pub/signed/dists/bookworm/InRelease');
      const inRelease = served.raw.toString('utf8');
      assert.match(inRelease, /^Codename: bookworm$/m);
      await writeFile(
        join(exported, 'dists/bookworm/InRelease'),
        inRelease.replace('Codename: bookworm', 'Codename: bookwork'),
      );
      const apt = await aptFor({ uri: `file:${exported}`, architectures: ['amd64'], key });
      const result = await apt.aptGet('update', '--error-on=any');
      assert.notEqual(result.code, 0);
      assert.match(result.output, /BADSIG|signatures were invalid|not signed/);
      assert.equal(await apt.candidate('signed'), undefined);
    });

    it('rotating the key keeps old clients working until the old key retires', async () => {
      const { key: oldKey, url } = await createRepository('pub', 'rotated', ['amd64']);
      const oldClient = await aptFor({ uri: url, architectures: ['amd64'], key: oldKey });
      await oldClient.update();
      const rotated = await alice.post(`${repoPath('pub', 'rotated')}/keys/rotate`);
      expectStatus(rotated, 200);
      const newKey = (await alice.get(`${repoPath('pub', 'rotated')}/key`)).body as string;
      await oldClient.update();
      const inRelease = (await bob.get('/repos/pub/rotated/dists/bookworm/InRelease'))
        .body as string;
      assert.equal(inRelease.match(/BEGIN PGP SIGNATURE/g)?.length, 1);
      const newClient = await aptFor({ uri: url, architectures: ['amd64'], key: newKey });
      await newClient.update();

      expectStatus(await alice.post(`${repoPath('pub', 'rotated')}/keys/retire`), 200);
      const stale = await oldClient.aptGet('update', '--error-on=any');
      assert.notEqual(stale.code, 0, 'the retired key signs no more');
      assert.match(stale.output, /NO_PUBKEY|not signed|signatures couldn't be verified/);
      await newClient.update();
    });
  });

  describe('bad input changes nothing', () => {
    it('refuses what is not a package, a rebuilt version, an older version unless forced', async () => {
      await createRepository('pub', 'strict', ['amd64']);
      const debs = join(work, 'strict');
      const good = await uploadDebs(alice, 'pub', [
        await buildDeb(debs, { name: 'tool', version: '2.0', architecture: 'amd64' }),
      ]);
      const before = await change(alice, 'pub', 'strict', 'include', {
        suite: 'bookworm',
        artifacts: [good],
      });
      const packagesBefore = await packageLines(alice, 'pub', 'strict');
      const notADeb = join(debs, 'notes_1.0_amd64.deb');
      await writeFile(notADeb, 'this is not a Debian package\n');
      const hugeDsc = join(debs, 'huge_1.0.dsc');
      const dscHead = 'Source: huge\nVersion: 1.0\nX-Pad: ';
      await writeFile(hugeDsc, `${dscHead}${'x'.repeat(maxDscSize - dscHead.length)}\n`);
      const cases: [string, number, RegExp][] = [
        [
          'not a .deb',
          await uploadDebs(alice, 'pub', [notADeb]),
          /notes_1\.0_amd64\.deb.*not a Debian binary package/,
        ],
        [
          'a rebuild of 2.0 with other content',
          await uploadDebs(alice, 'pub', [
            await buildDeb(join(debs, 'again'), {
              name: 'tool',
              version: '2.0',
              architecture: 'amd64',
              content: 'different\n',
            }),
          ]),
          /tool_2\.0_amd64\.deb is already in the pool with other content/,
        ],
        [
          'an older version',
          await uploadDebs(alice, 'pub', [
            await buildDeb(debs, { name: 'tool', version: '1.9', architecture: 'amd64' }),
          ]),
          /tool 1\.9 amd64 is older than 2\.0 in bookworm/,
        ],
        [
          'a good package with a bad one',
          await uploadDebs(alice, 'pub', [
            await buildDeb(debs, { name: 'other', version: '1', architecture: 'amd64' }),
            notADeb,
          ]),
          /not a Debian binary package/,
        ],
        [
          'a .dsc larger than kiln reads',
          await uploadDebs(alice, 'pub', [hugeDsc], 'debian:source-package'),
          new RegExp(
            `^huge_1\\.0\\.dsc is ${maxDscSize + 1} bytes; kiln reads \\.dsc files of up to ${maxDscSize}$`,
          ),
        ],
        [
          'a slice of good packages added before a bad one is read',
          await uploadDebs(alice, 'pub', [
            await buildDeb(debs, { name: 'aa', version: '1', architecture: 'amd64' }),
            await buildDeb(debs, { name: 'ab', version: '1', architecture: 'amd64' }),
            await buildDeb(debs, { name: 'ac', version: '1', architecture: 'amd64' }),
            await copyTo(notADeb, join(debs, 'zz_1.0_amd64.deb')),
          ]),
          /zz_1\.0_amd64\.deb.*not a Debian binary package/,
        ],
      ];
      for (const [what, artifact, message] of cases) {
        const task = await operate(alice, 'pub', 'strict', 'include', {
          suite: 'bookworm',
          artifacts: [artifact],
        });
        assert.equal(task.result, 'failure', what);
        assert.match(task.message ?? '', message, what);
        assert.doesNotMatch(task.message ?? '', /\n/, `${what}: one line`);
        assert.equal(await currentPublication(alice, 'pub', 'strict'), before, what);
        assert.deepEqual(await packageLines(alice, 'pub', 'strict'), packagesBefore, what);
      }

      expectError(
        await alice.post(`${repoPath('pub', 'strict')}/include`, {
          suite: 'sid',
          artifacts: [good],
        }),
        404,
        'not_found',
      );
      expectError(
        await alice.post(`${repoPath('pub', 'strict')}/include`, {
          suite: 'bookworm',
          artifacts: [],
        }),
        400,
        'validation_failed',
      );
      expectError(
        await bob.post(`${repoPath('pub', 'strict')}/include`, {
          suite: 'bookworm',
          artifacts: [good],
        }),
        403,
        'forbidden',
      );

      const older = cases[2]?.[1] ?? 0;
      await change(alice, 'pub', 'strict', 'include', {
        suite: 'bookworm',
        artifacts: [older],
        force: true,
      });
      assert.deepEqual(await packageLines(alice, 'pub', 'strict'), ['bookworm tool 1.9 amd64']);
    });
  });

  describe('one change with two versions of a package', () => {
    it('compares the second with the first, in one slice or across two', async () => {
      await createRepository('pub', 'twice', ['amd64']);
      const debs = join(work, 'twice');
      const deb = (dir: string, name: string, version: string) =>
        buildDeb(join(debs, dir), { name, version, architecture: 'amd64' });
      // Read in path order, two at a time: [aaa] [pair 10.0, pair 2.0] [solo, twin 1.0] [twin 1.1].
      const artifact = await uploadDebs(alice, 'pub', [
        await deb('a', 'aaa', '1'),
        await deb('b', 'pair', '10.0'),
        await deb('c', 'pair', '2.0'),
        await deb('d', 'solo', '1'),
        await deb('e', 'twin', '1.0'),
        await deb('f', 'twin', '1.1'),
      ]);
      const refused = await operate(alice, 'pub', 'twice', 'include', {
        suite: 'bookworm',
        artifacts: [artifact],
      });
      assert.equal(refused.result, 'failure');
      assert.match(refused.message ?? '', /pair 2\.0 amd64 is older than 10\.0 in bookworm/);
      assert.deepEqual(await packageLines(alice, 'pub', 'twice'), []);
      const forced = await operate(alice, 'pub', 'twice', 'include', {
        suite: 'bookworm',
        artifacts: [artifact],
        force: true,
      });
      assert.equal(forced.result, 'success', forced.message ?? '');
      assert.deepEqual(await packageLines(alice, 'pub', 'twice'), [
        'bookworm aaa 1 amd64',
        'bookworm pair 2.0 amd64',
        'bookworm solo 1 amd64',
        'bookworm twin 1.1 amd64',
      ]);
    });
  });

  describe('history', () => {
    it('serves every kept publication at a stable URL and makes an old one current again', async () => {
      const { key, url } = await createRepository('pub', 'history', ['amd64']);
      const debs = join(work, 'history');
      for (const version of ['1', '2', '3']) {
        const artifact = await uploadDebs(alice, 'pub', [
          await buildDeb(debs, { name: 'versioned', version, architecture: 'amd64' }),
        ]);
        await change(alice, 'pub', 'history', 'include', {
          suite: 'bookworm',
          artifacts: [artifact],
        });
      }
      const history = await alice.get(`${repoPath('pub', 'history')}/publications`);
      expectStatus(history, 200);
      assert.deepEqual(
        (history.body.items as { number: number; current: boolean }[]).map((p) => [
          p.number,
          p.current,
        ]),
        [
          [4, true],
          [3, false],
          [2, false],
          [1, false],
        ],
      );
      const apt = await aptFor({ uri: url, architectures: ['amd64'], key });
      await apt.update();
      assert.equal(await apt.candidate('versioned'), '3');

      const pinned = await aptFor({ uri: `${url}/publications/3`, architectures: ['amd64'], key });
      await pinned.update();
      assert.equal(await pinned.candidate('versioned'), '2');

      // A rollback serves publication 2's indices as publication 5, signed now: apt
      // refuses a Release older than the one it has.
      assert.equal(await change(alice, 'pub', 'history', 'rollback', { publication: 2 }), 5);
      assert.equal(await currentPublication(alice, 'pub', 'history'), 5);
      await apt.update();
      assert.equal(await apt.candidate('versioned'), '1');
      // The contents stay: the next publication is made from them.
      await change(alice, 'pub', 'history', 'publish', {});
      await apt.update();
      assert.equal(await apt.candidate('versioned'), '3');

      const missing = await operate(alice, 'pub', 'history', 'rollback', { publication: 99 });
      assert.equal(missing.result, 'failure');
      assert.match(missing.message ?? '', /publication 99 not found/);
      assert.equal(await currentPublication(alice, 'pub', 'history'), 6);
    });

    it('snapshots and copies suites, adds an architecture, removes packages', async () => {
      const { key, url } = await createRepository('pub', 'suites', ['amd64']);
      const debs = join(work, 'suites');
      const artifact = await uploadDebs(alice, 'pub', [
        await buildDeb(debs, { name: 'aa', version: '1', architecture: 'amd64' }),
        await buildDeb(debs, { name: 'bb', version: '1', architecture: 'all' }),
      ]);
      await change(alice, 'pub', 'suites', 'include', { suite: 'bookworm', artifacts: [artifact] });
      await change(alice, 'pub', 'suites', 'snapshot', { suite: 'bookworm', name: 'frozen' });
      await change(alice, 'pub', 'suites', 'remove', { suite: 'bookworm', package: 'aa' });
      await change(alice, 'pub', 'suites', 'add-architecture', {
        suite: 'bookworm',
        architecture: 'arm64',
      });
      assert.deepEqual(await packageLines(alice, 'pub', 'suites'), [
        'bookworm bb 1 all',
        'frozen aa 1 amd64',
        'frozen bb 1 all',
      ]);
      const frozen = await createAptClient(join(work, 'apt-frozen'), {
        uri: url,
        suite: 'frozen',
        components: ['main'],
        architectures: ['amd64'],
        key,
      });
      await frozen.update();
      assert.equal(await frozen.candidate('aa'), '1');
      const arm = await aptFor({ uri: url, architectures: ['arm64'], key });
      await arm.update();
      assert.equal(await arm.candidate('aa'), undefined);
      assert.equal(await arm.candidate('bb'), '1', 'arch all is listed for the new architecture');
    });
  });
  describe('saving rebuilt chunks', () => {
    it('saves them all if none changed since it read them, else none', async () => {
      await createRepository('pub', 'chunks', ['amd64']);
      const artifact = await uploadDebs(alice, 'pub', [
        await buildDeb(join(work, 'chunks'), { name: 'one', version: '1', architecture: 'amd64' }),
      ]);
      await change(alice, 'pub', 'chunks', 'include', { suite: 'bookworm', artifacts: [artifact] });
      const { db } = server.database;
      const indices = await db
        .selectFrom('apt_indices as i')
        .innerJoin('apt_suites as s', 's.id', 'i.suite_id')
        .innerJoin('apt_repositories as r', 'r.id', 's.repository_id')
        .select('i.id')
        .where('r.name', '=', 'chunks')
        .execute();
      const chunks = await listChunks(
        db,
        indices.map((i) => i.id),
      );
      assert.ok(chunks.length > 0);
      const files = {
        text_sha256: 'a'.repeat(64),
        text_size: 1,
        gz_sha256: 'b'.repeat(64),
        gz_size: 2,
      };
      const updates = chunks.map((c) => ({
        indexId: c.index_id,
        chunk: c.chunk,
        version: c.version,
        files,
      }));
      await db
        .transaction()
        .execute(async (trx) => {
          assert.equal(await saveChunks(trx, updates), true);
          // Now in another version: the same updates are stale, and save nothing.
          assert.equal(await saveChunks(trx, updates), false);
          const saved = await listChunks(
            trx,
            indices.map((i) => i.id),
          );
          assert.deepEqual(
            saved.map((c) => [c.text_sha256, c.gz_size, c.dirty]),
            chunks.map(() => ['a'.repeat(64), 2, false]),
          );
          // Left as they were.
          throw new Error('roll back');
        })
        .catch((error: unknown) => {
          if ((error as Error).message !== 'roll back') {
            throw error;
          }
        });
    });
  });

  describe('index chunks', () => {
    it("fills a suite's last chunk before it starts another", async () => {
      await createRepository('pub', 'chunked', ['amd64']);
      const { db } = server.database;
      const suite = await suiteOf('chunked');
      let next = 0;
      const add = (count: number) =>
        db.transaction().execute(async (trx) => {
          const indices = await ensureIndices(
            trx,
            suite.id,
            indexKeys(suite.components, suite.architectures),
          );
          const binaries = Array.from({ length: count }, () =>
            binaryRow(suite.id, `c${String((next += 1)).padStart(4, '0')}`, 'amd64'),
          );
          await addBinaries(trx, indices, suite.id, 'main', binaries);
        });
      const perChunk = async () =>
        (
          await db
            .selectFrom('apt_binaries')
            .select(['chunk', (eb) => eb.fn.countAll<string>().as('n')])
            .where('suite_id', '=', suite.id)
            .groupBy('chunk')
            .orderBy('chunk')
            .execute()
        ).map((row) => [row.chunk, Number(row.n)]);
      await add(300);
      assert.deepEqual(await perChunk(), [
        [0, 256],
        [1, 44],
      ]);
      await add(1);
      assert.deepEqual(await perChunk(), [
        [0, 256],
        [1, 45],
      ]);
      await add(260);
      assert.deepEqual(await perChunk(), [
        [0, 256],
        [1, 256],
        [2, 49],
      ]);
    });
  });

  describe('chunks an include makes itself', () => {
    it('are the bytes the database makes of the same chunks', async () => {
      await createRepository('pub', 'premade', ['amd64', 'arm64']);
      const { db } = server.database;
      const suite = await suiteOf('premade');
      const architectures = ['amd64', 'arm64', 'all'];
      // Names that collations order differently: by bytes, + before - before . before digits.
      const binaries = Array.from({ length: 600 }, (_, i) =>
        binaryRow(
          suite.id,
          `${['x-', 'x.', 'x+', 'x', 'x0'][i % 5] ?? ''}${String(i).padStart(3, '0')}`,
          architectures[i % 3] ?? 'all',
        ),
      );
      await db.transaction().execute(async (trx) => {
        const indices = await ensureIndices(
          trx,
          suite.id,
          indexKeys(suite.components, suite.architectures),
        );
        const packagesIndex = (architecture: string) => {
          const id = indices.get(`packages/main/${architecture}`) ?? 0;
          const index = { id, suite_id: suite.id, component: 'main', kind: 'packages' as const };
          return { id, index: { ...index, architecture } };
        };
        const prebuilder = createChunkPrebuilder('main', indices);
        // In three slices of the one include: chunks fill across them.
        const chunks = createChunkCursor('apt_binaries', suite.id, 'main');
        for (const slice of [
          binaries.slice(0, 100),
          binaries.slice(100, 400),
          binaries.slice(400),
        ]) {
          await addBinaries(trx, indices, suite.id, 'main', slice, { prebuilder, chunks });
        }
        const prebuilt = await prebuilder.finish(trx);
        const versions = await listChunks(trx, [...indices.values()]);
        let compared = 0;
        for (const architecture of ['amd64', 'arm64']) {
          const { id, index } = packagesIndex(architecture);
          for (const chunk of [0, 1, 2]) {
            const made = prebuilt.get(prebuiltKey(id, chunk));
            assert.ok(made !== undefined, `chunk ${chunk} of ${architecture} made`);
            assert.equal(
              made.version,
              versions.find((v) => v.index_id === id && v.chunk === chunk)?.version,
            );
            const fromDatabase = await listChunkTexts(trx, index, [chunk]).get(chunk);
            const { text, gz } = await made.made;
            assert.equal(text.toString('utf8'), fromDatabase);
            assert.deepEqual(gunzipSync(gz), text);
            compared += 1;
          }
        }
        assert.equal(compared, 6);
        // A chunk changed after it was made is left to the database.
        const spoiled = createChunkPrebuilder('main', indices);
        await addBinaries(
          trx,
          indices,
          suite.id,
          'main',
          binaries.map((b) => ({ ...b, package: `y${b.package}` })).slice(0, 10),
          { prebuilder: spoiled },
        );
        spoiled.spoil(2);
        assert.equal((await spoiled.finish(trx)).size, 0);
        // A binary the suite has already: the insert leaves it out, so the
        // chunk it was told in is left to the database; the next one is made.
        const renamed = (prefix: string) =>
          binaries.slice(0, 300).map((b) => ({ ...b, package: `${prefix}${b.package}` }));
        const again = createChunkPrebuilder('main', indices);
        const cursor = createChunkCursor('apt_binaries', suite.id, 'main');
        const options = { prebuilder: again, chunks: cursor };
        const first = [...renamed('z'), binaries[0] ?? binaryRow(suite.id, 'x', 'all')];
        const added = await addBinaries(trx, indices, suite.id, 'main', first, options);
        assert.equal(added.size, 300);
        await addBinaries(trx, indices, suite.id, 'main', renamed('w'), options);
        const madeAgain = await again.finish(trx);
        for (const architecture of ['amd64', 'arm64']) {
          const { id, index } = packagesIndex(architecture);
          // Chunk 2 was the suite's before; 3 has the binary left out; 4 is the change's own.
          assert.deepEqual(
            [2, 3, 4].filter((chunk) => madeAgain.has(prebuiltKey(id, chunk))),
            [4],
          );
          const made = await madeAgain.get(prebuiltKey(id, 4))?.made;
          assert.equal(made?.text.toString('utf8'), await listChunkTexts(trx, index, [4]).get(4));
        }
      });
    });

    it('are published, and as the database would make them', async () => {
      const { url } = await createRepository('pub', 'premade2', ['amd64', 'arm64']);
      const debs = join(work, 'premade2');
      const built = [];
      for (const [name, architecture] of [
        ['b-x', 'amd64'],
        ['b.x', 'arm64'],
        ['b+x', 'all'],
        ['bx', 'amd64'],
        ['dual', 'amd64'],
        ['dual', 'arm64'],
      ] as const) {
        built.push(await buildDeb(join(debs, architecture), { name, version: '1', architecture }));
      }
      const artifact = await uploadDebs(alice, 'pub', built);
      await change(alice, 'pub', 'premade2', 'include', {
        suite: 'bookworm',
        artifacts: [artifact],
      });
      const indexPath = (architecture: string) =>
        `${url}/dists/bookworm/main/binary-${architecture}/Packages`;
      const fetchText = async (path: string) => {
        const response = await fetch(path);
        assert.equal(response.status, 200, path);
        return response.text();
      };
      const made = [await fetchText(indexPath('amd64')), await fetchText(indexPath('arm64'))];
      assert.deepEqual(
        [...made[0]!.matchAll(/^Package: (.*)$/gm)].map((m) => m[1]),
        ['b+x', 'b-x', 'bx', 'dual'],
      );
      // The chunks rebuilt from the database: the same files.
      await sql`update apt_index_chunks set dirty = true`.execute(server.database.db);
      await change(alice, 'pub', 'premade2', 'publish', {});
      assert.deepEqual(
        [await fetchText(indexPath('amd64')), await fetchText(indexPath('arm64'))],
        made,
      );
    });
  });

  describe('suites larger than a statement takes parameters', () => {
    // PostgreSQL's protocol counts a statement's parameters in 16 bits.
    const many = 70_000;

    it(`snapshots a suite of ${many} packages`, async () => {
      await createRepository('pub', 'large', ['amd64']);
      const { db } = server.database;
      const suite = await suiteOf('large');
      const binaries = Array.from({ length: many }, (_, i) =>
        binaryRow(suite.id, `p${String(i).padStart(5, '0')}`, 'amd64'),
      );
      // Put straight in, as an include would after reading 70,000 .debs.
      await db.transaction().execute(async (trx) => {
        const indices = await ensureIndices(
          trx,
          suite.id,
          indexKeys(suite.components, suite.architectures),
        );
        await addBinaries(trx, indices, suite.id, 'main', binaries);
      });
      // A snapshot is a copy into a new suite: the copy looks its packages up in the target.
      await change(alice, 'pub', 'large', 'snapshot', { suite: 'bookworm', name: 'frozen' });
      const counts = await db
        .selectFrom('apt_binaries as b')
        .innerJoin('apt_suites as s', 's.id', 'b.suite_id')
        .innerJoin('apt_repositories as r', 'r.id', 's.repository_id')
        .select(['s.codename', (eb) => eb.fn.countAll<string>().as('n')])
        .where('r.name', '=', 'large')
        .groupBy('s.codename')
        .orderBy('s.codename')
        .execute();
      assert.deepEqual(
        counts.map((c) => [c.codename, Number(c.n)]),
        [
          ['bookworm', many],
          ['frozen', many],
        ],
      );
    });
  });

  describe('deleting', () => {
    /** Pool rows and binaries left without their repository or suite (they have no foreign keys). */
    const orphans = async () => {
      const { db } = server.database;
      const count = async (query: Promise<{ n: number }[]>) => (await query)[0]?.n ?? -1;
      return {
        pool: await count(
          sql<{ n: number }>`select count(*)::int as n from apt_pool p
            where not exists (select 1 from apt_repositories r where r.id = p.repository_id)`
            .execute(db)
            .then((r) => r.rows),
        ),
        binaries: await count(
          sql<{ n: number }>`select count(*)::int as n from apt_binaries b
            where not exists (select 1 from apt_suites s where s.id = b.suite_id)`
            .execute(db)
            .then((r) => r.rows),
        ),
      };
    };

    it('keeps the artifacts a pool uses until its repository or workspace is deleted', async () => {
      const debs = join(work, 'deleting');
      for (const workspace of ['doomed', 'doomed2']) {
        await createWorkspace(alice, workspace, { public: true });
        await createRepository(workspace, 'r', ['amd64']);
      }
      const artifacts = new Map<string, number>();
      for (const workspace of ['doomed', 'doomed2']) {
        const id = await uploadDebs(alice, workspace, [
          await buildDeb(join(debs, workspace), {
            name: 'dd',
            version: '1',
            architecture: 'amd64',
          }),
        ]);
        await change(alice, workspace, 'r', 'include', { suite: 'bookworm', artifacts: [id] });
        artifacts.set(workspace, id);
      }
      const [first = 0, second = 0] = artifacts.values();

      const refused = await alice.delete(`/api/v1/artifacts/${first}`);
      expectError(refused, 409, 'artifact_in_use');
      assert.match(JSON.stringify(refused.body), /in the pool of an APT repository/);
      expectStatus(await alice.get(`/api/v1/artifacts/${first}`), 200);
      const pool = '/repos/doomed/r/pool/main/d/dd/dd_1_amd64.deb';
      expectStatus(await alice.get(pool), 200);

      // The repository's pool goes with it; the include's log still refers to the artifact.
      expectStatus(await alice.delete(repoPath('doomed', 'r')), 204);
      expectError(await alice.get(pool), 404, 'not_found');
      assert.deepEqual(await orphans(), { pool: 0, binaries: 0 });
      const stillUsed = await alice.delete(`/api/v1/artifacts/${first}`);
      expectError(stillUsed, 409, 'artifact_in_use');
      assert.match(JSON.stringify(stillUsed.body), /other artifacts refer to/);

      // A workspace goes with its repositories and the artifacts their pools use.
      expectStatus(await alice.delete('/api/v1/workspaces/doomed2'), 204);
      expectError(await alice.get(`/api/v1/artifacts/${second}`), 404, 'not_found');
      expectError(await alice.get('/repos/doomed2/r/dists/bookworm/InRelease'), 404, 'not_found');
      assert.deepEqual(await orphans(), { pool: 0, binaries: 0 });
    });
  });
});

/** The files a Release lists under SHA256: and SHA512:, by path. */
function releaseHashes(release: string) {
  const sections = {
    SHA256: new Map<string, { digest: string; size: number }>(),
    SHA512: new Map<string, { digest: string; size: number }>(),
  };
  let current: Map<string, { digest: string; size: number }> | undefined;
  for (const line of release.split('\n')) {
    if (line === 'SHA256:' || line === 'SHA512:') {
      current = sections[line.slice(0, -1) as 'SHA256' | 'SHA512'];
    } else if (line.startsWith(' ') && current !== undefined) {
      const [digest = '', size = '', path = ''] = line.trim().split(/\s+/);
      current.set(path, { digest, size: Number(size) });
    } else {
      current = undefined;
    }
  }
  return sections;
}
