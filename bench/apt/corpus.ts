/**
 * The benchmark's corpus of small real .debs, written once per count and
 * generator version and reused after. As a command:
 *
 *   node bench/apt/corpus.ts --count 20000 [--out DIR]
 *
 * writes (or finds) the corpus in DIR, by default bench/out/apt-corpus/g<version>-n<count>.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  describeCorpus,
  generatorVersion,
  type CorpusSpec,
  type PackageSpec,
} from './corpus-spec.ts';
import { buildDeb, type DebContent } from './deb-archive.ts';

/** A corpus on disk. */
export interface Corpus extends CorpusSpec {
  readonly dir: string;
  readonly count: number;
  /** The absolute path of a package's .deb. */
  pathOf(spec: PackageSpec): string;
}

/** Called now and then while writing, with how many .debs are written. */
export type CorpusProgress = (written: number, total: number) => void;

const markerFile = 'corpus.json';
const mtime = 1_718_064_000;

/** Where the benchmark keeps the corpus of `count` packages. */
export function defaultCorpusDir(count: number): string {
  const out = fileURLToPath(new URL('../out/apt-corpus', import.meta.url));
  return join(out, `g${generatorVersion}-n${count}`);
}

/**
 * The corpus of `count` packages in `dir`: the one there if a generator of
 * this version wrote it, else a new one. It is written beside `dir` and moved
 * into place once complete, so an interrupted run leaves no half corpus.
 * Refuses a `dir` holding anything else.
 */
export async function ensureCorpus(
  dir: string,
  count: number,
  onProgress: CorpusProgress = () => undefined,
): Promise<{ corpus: Corpus; reused: boolean }> {
  const spec = describeCorpus(count);
  const corpus = openCorpus(resolve(dir), count, spec);
  if (await isComplete(corpus.dir, count)) {
    return { corpus, reused: true };
  }
  const entries = await readdir(corpus.dir).catch(() => []);
  if (entries.length > 0) {
    throw new Error(`${corpus.dir} is not empty and holds no corpus of ${count} packages`);
  }
  const partial = join(dirname(corpus.dir), `.${basename(corpus.dir)}.partial-${process.pid}`);
  try {
    writeDebs(partial, spec, onProgress);
    await writeFile(join(partial, markerFile), JSON.stringify({ generatorVersion, count }) + '\n');
    await rm(corpus.dir, { recursive: true, force: true });
    await rename(partial, corpus.dir);
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return { corpus, reused: false };
}

function openCorpus(dir: string, count: number, spec: CorpusSpec): Corpus {
  return { ...spec, dir, count, pathOf: (p) => join(dir, p.file) };
}

async function isComplete(dir: string, count: number): Promise<boolean> {
  try {
    const marker = JSON.parse(await readFile(join(dir, markerFile), 'utf8')) as Record<
      string,
      unknown
    >;
    return marker['generatorVersion'] === generatorVersion && marker['count'] === count;
  } catch {
    return false;
  }
}

/**
 * Writes every .deb, synchronously: each is a few hundred bytes, and the
 * thread pool's round trips would cost more than the writes.
 */
function writeDebs(dir: string, spec: CorpusSpec, onProgress: CorpusProgress): void {
  const all = [...spec.packages, ...spec.extras];
  const folders = new Set<string>();
  const step = Math.max(1000, Math.floor(all.length / 10));
  all.forEach((pkg, index) => {
    const folder = dirname(join(dir, pkg.file));
    if (!folders.has(folder)) {
      mkdirSync(folder, { recursive: true });
      folders.add(folder);
    }
    writeFileSync(join(dir, pkg.file), buildDeb(debContentOf(pkg)));
    if ((index + 1) % step === 0) {
      onProgress(index + 1, all.length);
    }
  });
}

/** The package's control paragraph (Debian Policy §5.3) and a README of a few bytes. */
function debContentOf(pkg: PackageSpec): DebContent {
  const readme = Buffer.from(`${pkg.name} ${pkg.version} (${pkg.architecture}): kiln benchmark\n`);
  const doc = `./usr/share/doc/${pkg.name}/`;
  const control = [
    `Package: ${pkg.name}`,
    `Version: ${pkg.version}`,
    `Architecture: ${pkg.architecture}`,
    'Maintainer: kiln benchmark <bench@kiln.invalid>',
    // In KiB (Policy §5.6.20): the README and its folders, a block each.
    'Installed-Size: 20',
    ...(pkg.depends === '' ? [] : [`Depends: ${pkg.depends}`]),
    `Section: ${pkg.architecture === 'all' ? 'doc' : 'misc'}`,
    'Priority: optional',
    `Description: ${pkg.name}, a package of kiln's APT benchmark`,
    ` A generated package that installs only ${doc.slice(1)}README.`,
    '',
  ].join('\n');
  return {
    control,
    data: [
      { path: './' },
      { path: './usr/' },
      { path: './usr/share/' },
      { path: './usr/share/doc/' },
      { path: doc },
      { path: `${doc}README`, content: readme },
    ],
    mtime,
  };
}

async function runCommand(): Promise<void> {
  const { values } = parseArgs({
    options: { count: { type: 'string' }, out: { type: 'string' } },
    strict: true,
  });
  const count = Number(values.count);
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new Error(`--count must be a positive integer, not ${values.count ?? '(missing)'}`);
  }
  const dir = values.out ?? defaultCorpusDir(count);
  await mkdir(dirname(resolve(dir)), { recursive: true });
  const started = performance.now();
  const { corpus, reused } = await ensureCorpus(dir, count, (written, total) => {
    process.stdout.write(`${written}/${total} .debs written\n`);
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(
    `${reused ? 'reused' : 'wrote'} ${corpus.count} .debs and ${corpus.extras.length} extra in ${corpus.dir} (${seconds} s)\n`,
  );
}

if (import.meta.main) {
  try {
    await runCommand();
  } catch (error) {
    process.stderr.write(`corpus: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
