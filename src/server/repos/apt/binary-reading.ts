/**
 * How an include reads its .debs: in slices (smaller at both ends), each in
 * groups read from the store at once, in the reading threads when a slice
 * is large enough (see deb-readers.ts), else on this thread; a few slices
 * ahead of the one being added.
 */
import { createHash } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { setImmediate } from 'node:timers/promises';
import { readDebControlAt } from '../../../debian/deb-file.ts';
import { KilnError } from '../../../protocol/errors.ts';
import type { FileStore } from '../../files/file-store.ts';
import { describeReadDeb, readDebsHere, type DebReaders, type ReadOutcome } from './deb-readers.ts';
import type { NewBinary } from './package.repository.ts';
import type { SuiteRow } from './repository.repository.ts';

/** A .deb read, as an include adds it: its binary and where its content is. */
export interface Binary extends NewBinary {
  readonly artifactId: number;
  readonly sha256: string;
  readonly size: number;
}

/**
 * Bytes of .debs read from the store at once (several contents with one read
 * where the store keeps them together), whatever the size of a slice.
 */
const readGroupBytes = 32 * 1024 * 1024;

/**
 * .debs larger than this are not read whole: their control data is read from
 * their first bytes and their md5 from a stream, on this thread. A 1 GB
 * debug package held whole (and copied to a reading thread) took 1-2 GB.
 */
export const wholeDebBytes = 16 * 1024 * 1024;

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

/** An artifact's file as the store holds it. */
export interface StoredFile {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

/** A .deb of an artifact. */
export interface DebFileRef {
  readonly artifactId: number;
  readonly file: StoredFile;
}

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
 * threads (`readers`) unless they are few, or they are an include's first
 * slice and no thread is ready (see `DebReaders.ready`), else here,
 * yielding now and then. This thread has nothing else to do before the
 * first slice is read: 20,000 .debs' first 313 took ~0.2 s longer in a new
 * thread than here, which the include waited for.
 */
async function readBinaries(
  { store, readers, readHereUpTo: upTo = readHereUpTo }: IngestReading,
  debs: readonly DebFileRef[],
  suite: SuiteRow,
  component: string,
  first: boolean,
): Promise<Binary[]> {
  const binaries: Binary[] = [];
  const offThread = readers !== undefined && debs.length > upTo && (!first || readers.ready());
  let turnStarted = performance.now();
  for (const group of runsOf(debs, (d) => d.file.size, Infinity, readGroupBytes)) {
    // A .deb larger than a group is alone in its group.
    const [first] = group;
    if (group.length === 1 && first !== undefined && first.file.size > wholeDebBytes) {
      binaries.push(
        binaryOf(first, await readLargeDeb(store, first.file, component), suite, component),
      );
      continue;
    }
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

/** Reads a large .deb without holding it whole (see `wholeDebBytes`). */
async function readLargeDeb(
  store: FileStore,
  file: StoredFile,
  component: string,
): Promise<ReadOutcome> {
  try {
    const control = await readDebControlAt(
      async (position, length) =>
        buffer(await store.openRead(file.sha256, { start: position, end: position + length - 1 })),
      file.size,
    );
    const md5 = createHash('md5');
    for await (const chunk of await store.openRead(file.sha256)) {
      md5.update(chunk as Buffer);
    }
    return { deb: describeReadDeb(component, file, control, md5.digest('hex')) };
  } catch (error) {
    return { error: (error as Error).message };
  }
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

/** The slices of an include's .debs, read in order and ahead of the one asked for. */
export interface SlicedReading {
  readonly count: number;
  /** The binaries of slice `index`; starts reading the next ones meanwhile. */
  read(index: number): Promise<Binary[]>;
}

/**
 * Reads `debs` in slices of at most `size`: every slice up to the one asked
 * for, and in threads a few after it too (readAheadSlices, readAheadBytes),
 * so that the threads do not wait for the database adding the slices.
 */
export function readInSlices(
  reading: IngestReading,
  debs: readonly DebFileRef[],
  size: number,
  suite: SuiteRow,
  component: string,
): SlicedReading {
  const slices = sliced(debs, size);
  const reads: Promise<Binary[]>[] = [];
  const bytesOf = (slice: readonly DebFileRef[]) => slice.reduce((n, d) => n + d.file.size, 0);
  const readUpTo = (last: number) => {
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
      const read = readBinaries(reading, slice, suite, component, reads.length === 0);
      // Awaited in its turn; handled meanwhile (an include that fails first leaves it).
      read.catch(() => undefined);
      if (reads.length > last) {
        ahead += bytesOf(slice);
      }
      reads.push(read);
    }
  };
  return {
    count: slices.length,
    async read(index) {
      readUpTo(index);
      const binaries = (await reads[index]) ?? [];
      // The next slice is read while this one is added.
      readUpTo(index + 1);
      return binaries;
    },
  };
}
