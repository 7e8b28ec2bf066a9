import { hash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { Piscina } from 'piscina';
import { poolDirectory, packagesStanza, sourceOf } from '../../../debian/archive.ts';
import { parseDebControl } from '../../../debian/deb-file.ts';
import type { NewBinary } from './package.repository.ts';

/** What an include keeps of a .deb: its identity, its pool path and its Packages stanza. */
export type ReadDeb = Omit<NewBinary, 'suite_id' | 'component'>;

/** A stored .deb: its name in its artifact, and what the store knows of its content. */
export interface DebToRead {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/** A .deb read, or why it could not be (a malformed package). */
export type ReadOutcome = { readonly deb: ReadDeb } | { readonly error: string };

/**
 * Reads .debs (their control data, md5 and Packages stanza) for an include,
 * in worker threads: the thread that adds them to the database goes on
 * meanwhile, and several groups are read at once where the machine has the
 * cores.
 */
export interface DebReaders {
  /** Reads `debs`, whose contents are `bytes[i]`, for the pool of `component`. */
  read(
    component: string,
    debs: readonly DebToRead[],
    bytes: readonly Uint8Array[],
  ): Promise<ReadOutcome[]>;
  /** Starts a thread now if none runs, for .debs that will come once the caller has them. */
  warm(): void;
  /** Stops the threads. */
  close(): Promise<void>;
}

/** Reads one .deb on this thread. Throws when it is malformed. */
export async function readDeb(
  component: string,
  file: DebToRead,
  bytes: Uint8Array,
): Promise<ReadDeb> {
  // The sha256 and size are the store's, checked when the content was uploaded.
  const md5 = hash('md5', bytes, 'hex');
  const { control } = await parseDebControl(bytes);
  const source = sourceOf(control);
  const poolPath = `${poolDirectory(component, source.name)}/${basename(file.path)}`;
  return {
    package: control.get('Package') ?? '',
    version: control.get('Version') ?? '',
    architecture: control.get('Architecture') ?? '',
    source: source.name,
    source_version: source.version,
    pool_path: poolPath,
    stanza: packagesStanza(control, {
      filename: poolPath,
      size: file.size,
      md5,
      sha256: file.sha256,
    }),
  };
}

/** Reads .debs on this thread, one after the other. */
export async function readDebsHere(
  component: string,
  debs: readonly DebToRead[],
  bytes: readonly Uint8Array[],
): Promise<ReadOutcome[]> {
  const outcomes: ReadOutcome[] = [];
  for (const [index, file] of debs.entries()) {
    try {
      outcomes.push({ deb: await readDeb(component, file, bytes[index] ?? new Uint8Array()) });
    } catch (error) {
      outcomes.push({ error: (error as Error).message });
    }
  }
  return outcomes;
}

/** One message to a reading thread: the .debs' contents end to end in `bytes`. */
export interface ReadTask {
  readonly component: string;
  readonly debs: readonly DebToRead[];
  readonly bytes: Uint8Array;
}

/**
 * Reading threads, started when first needed and stopped after a minute
 * without work. One fewer than the cores (at least one): the thread adding
 * the packages and the database take the rest.
 */
export function createDebReaders(threads = Math.max(1, availableParallelism() - 1)): DebReaders {
  const pool = new Piscina<ReadTask, ReadOutcome[]>({
    filename: new URL('./deb-reader.worker.ts', import.meta.url).href,
    minThreads: 0,
    maxThreads: threads,
    idleTimeout: 60_000,
    // A task is a few hundred small .debs; their control data is all a thread keeps.
    resourceLimits: { maxOldGenerationSizeMb: 64 },
  });
  return {
    async read(component, debs, bytes) {
      // One buffer of the task's own, moved to the thread rather than copied
      // there: `bytes` are often views of a much larger read.
      const joined = Buffer.allocUnsafeSlow(bytes.reduce((sum, b) => sum + b.length, 0));
      let offset = 0;
      for (const content of bytes) {
        joined.set(content, offset);
        offset += content.length;
      }
      return pool.run({ component, debs, bytes: joined }, { transferList: [joined.buffer] });
    },
    warm() {
      if (pool.threads.length === 0) {
        // An empty task: the thread loads its code meanwhile (about 0.1 s).
        pool.run({ component: '', debs: [], bytes: new Uint8Array() }).catch(() => undefined);
      }
    },
    close: () => pool.destroy(),
  };
}
