import { hash } from 'node:crypto';
import { basename } from 'node:path';
import { setImmediate } from 'node:timers/promises';
import { sql } from 'kysely';
import { poolDirectory, sourcesStanza, type SourceFile } from '../../../debian/archive.ts';
import { parseDeb822, parseFileList, stripClearsign } from '../../../debian/deb822.ts';
import { compareVersions } from '../../../debian/version.ts';
import { KilnError } from '../../../protocol/errors.ts';
import type { Db } from '../../db/connect.ts';
import type { FileStore } from '../../files/file-store.ts';
import { readDebsHere, type DebReaders, type ReadOutcome } from './deb-readers.ts';
import { ensureIndices, indexKeys } from './index.repository.ts';
import {
  findBinaries,
  findPoolFiles,
  findSource,
  addBinaries,
  insertPoolFiles,
  insertSource,
  replaceBinary,
  replaceSource,
  type NewBinary,
} from './package.repository.ts';
import type { RepositoryRow, SuiteRow } from './repository.repository.ts';

/** An artifact's files as ingest reads them. */
export interface IngestArtifact {
  readonly id: number;
  readonly type: string;
  readonly files: readonly {
    readonly path: string;
    readonly sha256: string;
    readonly size: number;
  }[];
}

interface Binary extends NewBinary {
  readonly artifactId: number;
  readonly sha256: string;
  readonly size: number;
}

interface Source {
  readonly package: string;
  readonly version: string;
  readonly stanza: string;
  readonly files: readonly { path: string; sha256: string; size: number; artifactId: number }[];
}

export interface IncludeResult {
  readonly added: string[];
  readonly replaced: string[];
}

/**
 * Bytes of .debs read from the store at once (several contents with one read
 * where the store keeps them together), whatever the size of a slice.
 */
const readGroupBytes = 32 * 1024 * 1024;

/**
 * .debs read, then added, at a time: the database adds one slice while the
 * next is read, so that a large include costs about the longer of the two
 * rather than their sum.
 */
export const includeSlice = 5000;

/**
 * Up to how many .debs a slice is read on this thread: waking the reading
 * threads costs more than reading a few packages (a +1 include reads one).
 */
export const readHereUpTo = 64;

/** Whether an artifact's file is a binary package an include adds. */
export function isBinaryPackage(path: string): boolean {
  return path.endsWith('.deb') || path.endsWith('.udeb');
}

/**
 * Slices, and bytes of .debs, read ahead of the slice being added when
 * reading threads read them: enough that they do not wait for the
 * database, few enough that what they have read does not pile up.
 */
const readAheadSlices = 2;
const readAheadBytes = 64 * 1024 * 1024;

/** .debs (or bytes of them) per task given to a reading thread. */
const taskDebs = 256;
const taskBytes = 4 * 1024 * 1024;

/**
 * How long reading on this thread holds it before it yields, so that the
 * answers to the slice being added are taken in and its next statement sent.
 */
const readTurnMs = 4;

/** Where an include reads packages: the store, and the threads that read .debs. */
export interface IngestReading {
  readonly store: FileStore;
  readonly readers?: DebReaders | undefined;
  /** Up to how many .debs of a slice are read here rather than in `readers`. */
  readonly readHereUpTo?: number | undefined;
}

/**
 * The .debs in slices of at most `size`: the first ones smaller, so that the
 * database starts adding early, and the last ones too, so that little is
 * left to add once the last .deb is read. One slice at least (empty without
 * .debs: the sources are added with the first).
 */
function sliced(debs: readonly DebFileRef[], size: number): (readonly DebFileRef[])[] {
  const front: number[] = [];
  const back: number[] = [];
  let left = debs.length;
  for (let next = Math.ceil(size / 16); left > 0; next = Math.min(size, next * 4)) {
    for (const end of next < size ? [front, back] : [front]) {
      const taken = Math.min(next, left);
      if (taken > 0) {
        end.push(taken);
        left -= taken;
      }
    }
  }
  const slices: (readonly DebFileRef[])[] = [];
  let start = 0;
  for (const count of [...front, ...back.reverse()]) {
    slices.push(debs.slice(start, start + count));
    start += count;
  }
  return slices.length === 0 ? [[]] : slices;
}

type DebFileRef = { readonly artifactId: number; readonly file: IngestArtifact['files'][number] };

/** Splits `items` into runs of at most `count` items and (past the first) `bytes` bytes. */
function runsOf<T>(
  items: readonly T[],
  sizeOf: (item: T) => number,
  count: number,
  bytes: number,
): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let runBytes = 0;
  for (const item of items) {
    if (run.length > 0 && (run.length >= count || runBytes + sizeOf(item) > bytes)) {
      runs.push(run);
      run = [];
      runBytes = 0;
    }
    run.push(item);
    runBytes += sizeOf(item);
  }
  if (run.length > 0) {
    runs.push(run);
  }
  return runs;
}

/**
 * Reads the .debs in order, a group of them at a time: in the reading
 * threads (`readers`) unless they are few, else here, yielding now and then.
 */
async function readBinaries(
  { store, readers, readHereUpTo: upTo = readHereUpTo }: IngestReading,
  debs: readonly DebFileRef[],
  suite: SuiteRow,
  component: string,
): Promise<Binary[]> {
  const binaries: Binary[] = [];
  const offThread = readers !== undefined && debs.length > upTo;
  let turnStarted = performance.now();
  for (const group of runsOf(debs, (d) => d.file.size, Infinity, readGroupBytes)) {
    const contents = await store.readMany(group.map((d) => d.file.sha256)).catch(async () => {
      // A content missing: one by one, for the message naming its file.
      const one: Buffer[] = [];
      for (const ref of group) {
        one.push(await readStored(store, ref));
      }
      return one;
    });
    if (offThread) {
      const tasks: Promise<ReadOutcome[]>[] = [];
      let first = 0;
      for (const task of runsOf(group, (d) => d.file.size, taskDebs, taskBytes)) {
        const files = task.map((d) => d.file);
        tasks.push(readers.read(component, files, contents.slice(first, first + task.length)));
        first += task.length;
      }
      const outcomes = (await Promise.all(tasks)).flat();
      for (const [index, ref] of group.entries()) {
        binaries.push(binaryOf(ref, outcomes[index], suite, component));
      }
      continue;
    }
    for (const [index, ref] of group.entries()) {
      const [outcome] = await readDebsHere(
        component,
        [ref.file],
        [contents[index] ?? Buffer.alloc(0)],
      );
      binaries.push(binaryOf(ref, outcome, suite, component));
      if (performance.now() - turnStarted > readTurnMs) {
        await setImmediate();
        turnStarted = performance.now();
      }
    }
  }
  return binaries;
}

/** A content of the store, or an error naming the file that holds it. */
async function readStored(store: FileStore, { artifactId, file }: DebFileRef): Promise<Buffer> {
  try {
    return await store.read(file.sha256);
  } catch (error) {
    throw new KilnError(
      'bad_request',
      `${file.path} (artifact ${artifactId}): ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** The binary a read .deb adds to the suite; refuses a malformed one, or one of another architecture. */
function binaryOf(
  { artifactId, file }: DebFileRef,
  outcome: ReadOutcome | undefined,
  suite: SuiteRow,
  component: string,
): Binary {
  if (outcome === undefined || 'error' in outcome) {
    throw new KilnError(
      'bad_request',
      `${file.path} (artifact ${artifactId}): ${outcome?.error ?? 'not read'}`,
    );
  }
  const { deb } = outcome;
  if (deb.architecture !== 'all' && !suite.architectures.includes(deb.architecture)) {
    throw new KilnError(
      'bad_request',
      `${file.path} is for ${deb.architecture}, which suite ${suite.codename} does not have (${suite.architectures.join(', ')})`,
    );
  }
  return {
    suite_id: suite.id,
    component,
    ...deb,
    artifactId,
    sha256: file.sha256,
    size: file.size,
  };
}

/**
 * Adds the packages in artifacts to a suite, within the transaction `db`:
 * every .deb/.udeb as a binary (its control data read once, here), every .dsc
 * with the files it names as a source (see `addPackages`). The .debs are read
 * a slice at a time, each slice added while the next is read. Refuses a
 * malformed .deb or .dsc with a clear error, which leaves the transaction to
 * roll back whatever slices were added.
 */
export async function ingestPackages(
  reading: IngestReading,
  db: Db,
  target: { repository: RepositoryRow; suite: SuiteRow; component: string; force: boolean },
  artifacts: readonly IngestArtifact[],
  sliceSize = includeSlice,
): Promise<IncludeResult> {
  const { repository, suite, component, force } = target;
  const { store } = reading;
  const debs = artifacts.flatMap((artifact) =>
    artifact.files
      .filter((f) => isBinaryPackage(f.path))
      .map((file) => ({ artifactId: artifact.id, file })),
  );
  let sources: Source[] = [];
  for (const artifact of artifacts) {
    for (const file of artifact.files) {
      if (file.path.endsWith('.dsc')) {
        sources.push(await readSource(store, artifact, file, component));
      }
    }
  }
  if (debs.length === 0 && sources.length === 0) {
    throw new KilnError('bad_request', 'the artifacts hold no .deb, .udeb or .dsc file');
  }
  // Each slice's lookups planned for its own values: the plan PostgreSQL
  // keeps after five runs of a statement (§PREPARE) was made for a guessed
  // number of values and a suite as small as it was, and walked the whole
  // suite for each value once the suite had grown (20,000 .debs: a second
  // a slice, from the sixth).
  await sql`set local plan_cache_mode = force_custom_plan`.execute(db);
  const result: IncludeResult = { added: [], replaced: [] };
  const slices = sliced(debs, sliceSize);
  const reads: Promise<Binary[]>[] = [];
  /**
   * Starts reading every slice up to `last`, and in threads a few after it
   * too (readAheadSlices, readAheadBytes).
   */
  const readUpTo = (last: number) => {
    const bytesOf = (slice: readonly DebFileRef[]) => slice.reduce((n, d) => n + d.file.size, 0);
    let ahead = 0;
    for (const slice of slices.slice(last + 1, reads.length)) {
      ahead += bytesOf(slice);
    }
    for (const slice of slices.slice(reads.length)) {
      if (
        reads.length > last &&
        (reading.readers === undefined ||
          reads.length > last + readAheadSlices ||
          ahead > readAheadBytes)
      ) {
        break;
      }
      const read = readBinaries(reading, slice, suite, component);
      // Awaited in its turn; handled meanwhile (an include that fails first leaves it).
      read.catch(() => undefined);
      if (reads.length > last) {
        ahead += bytesOf(slice);
      }
      reads.push(read);
    }
  };
  let adding: Promise<void> | undefined;
  try {
    for (let index = 0; index < slices.length; index++) {
      readUpTo(index);
      const binaries = await reads[index];
      // The next slice is read while this one is added.
      readUpTo(index + 1);
      await adding;
      const packages = { binaries: binaries ?? [], sources };
      sources = [];
      adding = addPackages(db, repository, suite, component, packages, force).then((added) => {
        result.added.push(...added.added);
        result.replaced.push(...added.replaced);
      });
      // Awaited before the next slice is added, or below; handled meanwhile.
      adding.catch(() => undefined);
    }
    await adding;
  } catch (error) {
    // The transaction rolls back after the statements in flight.
    await adding?.catch(() => undefined);
    throw error;
  }
  return result;
}

async function readSource(
  store: FileStore,
  artifact: IngestArtifact,
  file: IngestArtifact['files'][number],
  component: string,
): Promise<Source> {
  const text = (await store.read(file.sha256)).toString('utf8');
  const [dsc] = (() => {
    try {
      return parseDeb822(stripClearsign(text));
    } catch (error) {
      throw new KilnError('bad_request', `${file.path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  })();
  const name = dsc?.get('Source');
  const version = dsc?.get('Version');
  if (dsc === undefined || name === undefined || version === undefined) {
    throw new KilnError(
      'bad_request',
      `${file.path} is not a source control file (no Source or Version)`,
    );
  }
  const directory = poolDirectory(component, name);
  const md5s = new Map(parseFileList(dsc.get('Files')).map((f) => [f.name, f.hash]));
  const listed = parseFileList(dsc.get('Checksums-Sha256'));
  const parts: SourceFile[] = [];
  const files: Source['files'][number][] = [];
  const dscMd5 = hash('md5', text, 'hex');
  for (const entry of [
    { name: basename(file.path), hash: file.sha256, size: file.size },
    ...listed,
  ]) {
    const stored = artifact.files.find((f) => basename(f.path) === entry.name);
    if (stored?.sha256 !== entry.hash) {
      throw new KilnError(
        'bad_request',
        `${file.path} names ${entry.name}, which artifact ${artifact.id} does not hold with that sha256`,
      );
    }
    parts.push({
      name: entry.name,
      size: stored.size,
      sha256: stored.sha256,
      md5: entry.name === basename(file.path) ? dscMd5 : (md5s.get(entry.name) ?? ''),
    });
    files.push({
      path: `${directory}/${entry.name}`,
      sha256: stored.sha256,
      size: stored.size,
      artifactId: artifact.id,
    });
  }
  return { package: name, version, stanza: sourcesStanza(dsc, directory, parts), files };
}

/**
 * Adds read packages to a suite: pool files (the same path with other content
 * is refused: a package's version is never rebuilt with other bytes), then
 * binaries and sources, replacing older versions (an older version than the
 * suite's is refused unless `force`), marking the index chunks that list them dirty.
 */
export async function addPackages(
  db: Db,
  repository: RepositoryRow,
  suite: SuiteRow,
  component: string,
  packages: { binaries: readonly Binary[]; sources: readonly Source[] },
  force: boolean,
): Promise<IncludeResult> {
  const pool = [
    ...packages.binaries.map((b) => ({
      path: b.pool_path,
      sha256: b.sha256,
      size: b.size,
      artifactId: b.artifactId,
    })),
    ...packages.sources.flatMap((s) => s.files),
  ];
  const inConflict = (path: string) =>
    new KilnError('conflict', `${path} is already in the pool with other content`);
  const wanted = new Map<string, (typeof pool)[number]>();
  for (const file of pool) {
    if ((wanted.get(file.path)?.sha256 ?? file.sha256) !== file.sha256) {
      throw inConflict(file.path);
    }
    wanted.set(file.path, file);
  }
  // Added where the pool has nothing yet, which for a large change is
  // nearly everything; the paths it has are looked up after, not all before.
  // The repository is held (see `holdForChange`): no other change adds to its pool meanwhile.
  const inserted = await insertPoolFiles(
    db,
    [...wanted.values()].map((p) => ({
      repository_id: repository.id,
      path: p.path,
      sha256: p.sha256,
      size: p.size,
      artifact_id: p.artifactId,
    })),
  );
  const there = [...wanted.values()].filter((f) => !inserted.has(f.path));
  const existing = await findPoolFiles(
    db,
    repository.id,
    there.map((f) => f.path),
  );
  for (const file of there) {
    if (existing.get(file.path) !== file.sha256) {
      throw inConflict(file.path);
    }
  }
  const indices = await ensureIndices(db, suite.id, indexKeys([component], suite.architectures));
  const result: IncludeResult = { added: [], replaced: [] };
  const rows = packages.binaries.map(({ artifactId: _a, sha256: _s, size: _z, ...row }) => row);
  // Likewise: the binaries the suite has already (another version) are looked up after.
  const fresh = await addBinaries(db, indices, suite.id, component, rows);
  const others: NewBinary[] = [];
  for (const binary of rows) {
    // Taken once: the same package twice in a change is compared with the first.
    if (fresh.delete(`${binary.package}/${binary.architecture}`)) {
      result.added.push(`${binary.package} ${binary.version} ${binary.architecture}`);
    } else {
      others.push(binary);
    }
  }
  const current = await findBinaries(db, suite.id, others);
  for (const row of others) {
    const old = current.get(`${row.component}/${row.package}/${row.architecture}`);
    const label = `${row.package} ${row.version} ${row.architecture}`;
    if (old !== undefined && old.version !== row.version) {
      if (compareVersions(row.version, old.version) < 0 && !force) {
        throw new KilnError(
          'conflict',
          `${label} is older than ${old.version} in ${suite.codename} (force to replace)`,
        );
      }
      await replaceBinary(db, indices, old.id, row);
      result.replaced.push(`${label} (was ${old.version})`);
    }
  }
  for (const source of packages.sources) {
    const label = `${source.package} ${source.version} source`;
    const old = await findSource(db, suite.id, component, source.package);
    const row = {
      version: source.version,
      pool_paths: source.files.map((f) => f.path),
      stanza: source.stanza,
    };
    if (old === undefined) {
      await insertSource(
        db,
        { suite_id: suite.id, component, package: source.package, ...row },
        indices,
      );
      result.added.push(label);
    } else if (old.version !== source.version) {
      if (compareVersions(source.version, old.version) < 0 && !force) {
        throw new KilnError(
          'conflict',
          `${label} is older than ${old.version} in ${suite.codename} (force to replace)`,
        );
      }
      await replaceSource(db, indices, old.id, row);
      result.replaced.push(`${label} (was ${old.version})`);
    }
  }
  return result;
}
