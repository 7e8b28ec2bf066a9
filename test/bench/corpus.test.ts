import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { describeCorpus, type PackageSpec } from '../../bench/apt/corpus-spec.ts';
import { ensureCorpus, type Corpus } from '../../bench/apt/corpus.ts';

const run = promisify(execFile);

describe('the APT benchmark corpus', () => {
  it('has 80 % amd64, 10 % arm64 and 10 % all, with distinct names, the same every time', () => {
    const { packages, extras } = describeCorpus(1000);
    const count = (architecture: string) =>
      packages.filter((p) => p.architecture === architecture).length;
    assert.deepEqual([count('amd64'), count('arm64'), count('all')], [800, 100, 100]);
    const names = new Set([...packages, ...extras].map((p) => p.name));
    assert.equal(names.size, 1000 + extras.length);
    assert.equal(extras.length, 3);
    assert.equal(new Set(packages.map((p) => p.file)).size, 1000);
    assert.deepEqual(describeCorpus(1000), { packages, extras });
    for (const p of packages) {
      assert.match(p.name, /^[a-z0-9][a-z0-9+.-]+$/, 'a valid package name (Policy §5.6.1)');
      assert.match(p.version, /^(\d+:)?\d[A-Za-z0-9.+~]*-[A-Za-z0-9.+~]+$/);
    }
  });

  it('depends only on its own packages, of an architecture that can be installed beside', () => {
    const { packages } = describeCorpus(2000);
    const byName = new Map(packages.map((p) => [p.name, p]));
    const withDepends = packages.filter((p) => p.depends !== '');
    assert.ok(withDepends.length > 500, `only ${withDepends.length} packages have Depends`);
    for (const p of withDepends) {
      for (const relation of p.depends.split(', ')) {
        const target = byName.get(relation.split(' ')[0] ?? '');
        assert.ok(target !== undefined, `${p.name} depends on a package not in the corpus`);
        assert.ok(
          target.architecture === 'all' || target.architecture === p.architecture,
          `${p.name} (${p.architecture}) depends on ${target.name} (${target.architecture})`,
        );
      }
    }
  });

  describe('on disk', () => {
    let dir: string;
    let corpus: Corpus;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'kiln-corpus-test-'));
      const first = await ensureCorpus(join(dir, 'corpus'), 40);
      assert.equal(first.reused, false);
      corpus = first.corpus;
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const samples = () => [
      ...(['amd64', 'arm64', 'all'] as const).map(
        (a) => corpus.packages.find((p) => p.architecture === a && p.depends !== '') as PackageSpec,
      ),
      corpus.packages.find((p) => p.version.includes(':')) ?? corpus.packages[0]!,
      ...corpus.extras,
    ];

    it('writes .debs whose control fields dpkg-deb -f reads back', async () => {
      for (const pkg of samples()) {
        const fields = await run('dpkg-deb', [
          '-f',
          corpus.pathOf(pkg),
          'Package',
          'Version',
          'Architecture',
          'Depends',
        ]);
        const expected = [
          `Package: ${pkg.name}`,
          `Version: ${pkg.version}`,
          `Architecture: ${pkg.architecture}`,
          ...(pkg.depends === '' ? [] : [`Depends: ${pkg.depends}`]),
        ];
        assert.deepEqual(fields.stdout.trimEnd().split('\n'), expected);
      }
    });

    it('writes a data archive that dpkg-deb -c lists and -x extracts', async () => {
      for (const pkg of samples()) {
        const listing = (await run('dpkg-deb', ['-c', corpus.pathOf(pkg)])).stdout;
        const paths = listing
          .trim()
          .split('\n')
          .map((line) => line.split(/\s+/).pop());
        const doc = `./usr/share/doc/${pkg.name}/`;
        assert.deepEqual(paths, [
          './',
          './usr/',
          './usr/share/',
          './usr/share/doc/',
          doc,
          `${doc}README`,
        ]);
        assert.match(listing, /^-rw-r--r-- root\/root\s+\d+ .* \.\/usr\/share\/doc\/.*\/README$/m);

        const target = join(dir, 'extracted', pkg.name);
        await mkdir(target, { recursive: true });
        await run('dpkg-deb', ['-x', corpus.pathOf(pkg), target]);
        const readme = await readFile(join(target, 'usr/share/doc', pkg.name, 'README'), 'utf8');
        assert.equal(readme, `${pkg.name} ${pkg.version} (${pkg.architecture}): kiln benchmark\n`);
      }
    });

    it('writes every .deb so that dpkg-deb --info accepts it', async () => {
      for (const pkg of [...corpus.packages, ...corpus.extras]) {
        await run('dpkg-deb', ['--info', corpus.pathOf(pkg)]);
      }
    });

    it('is reused by the next run, and refuses a folder holding something else', async () => {
      const again = await ensureCorpus(corpus.dir, 40);
      assert.equal(again.reused, true);
      const other = join(dir, 'other');
      await mkdir(other);
      await writeFile(join(other, 'notes.txt'), 'not a corpus\n');
      await assert.rejects(ensureCorpus(other, 40), /not empty and holds no corpus of 40/);
      await assert.rejects(ensureCorpus(corpus.dir, 41), /not empty and holds no corpus of 41/);
    });
  });
});
