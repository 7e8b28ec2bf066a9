import { hash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { Worker } from 'node:worker_threads';
import { poolDirectory, packagesStanza, sourceOf, stanzaText } from '../../../debian/archive.ts';
import { type DebControl, parseDebControl } from '../../../debian/deb-file.ts';
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
  /**
   * Whether a running thread has read .debs before: a new one loads its code
   * and compiles as it reads its first (~0.1 s, then several times slower
   * than later .debs).
   */
  ready(): boolean;
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
  return describeReadDeb(component, file, await parseDebControl(bytes), hash('md5', bytes, 'hex'));
}

/** What an include keeps of a .deb, from its control data and the md5 of its content. */
export function describeReadDeb(
  component: string,
  file: DebToRead,
  { control }: DebControl,
  md5: string,
): ReadDeb {
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
  readonly seq: number;
  readonly component: string;
  readonly debs: readonly DebToRead[];
  readonly bytes: Uint8Array;
}

/**
 * A reading thread's answer to a task: the outcomes without their stanzas,
 * and the stanzas' UTF-8 end to end in `stanzas` (moved to the thread that
 * asked, not copied), `lengths[i]` bytes for outcome `i`. Thousands of
 * stanzas of a slice, held until it is added, are then a few buffers outside
 * the JavaScript heap, not strings its garbage collector copies from
 * generation to generation.
 */
export type ReadReply =
  | {
      readonly seq: number;
      readonly outcomes: ({ readonly deb: Omit<ReadDeb, 'stanza'> } | { readonly error: string })[];
      readonly stanzas: Uint8Array;
      readonly lengths: readonly number[];
    }
  | { readonly seq: number; readonly failure: string };

/** A task's outcomes as a reading thread sends them back (see `ReadReply`). */
export function packReply(
  seq: number,
  outcomes: readonly ReadOutcome[],
): Extract<ReadReply, { stanzas: Uint8Array }> {
  const texts = outcomes.map((o) => ('deb' in o ? stanzaText(o.deb.stanza) : ''));
  const lengths = texts.map((text) => Buffer.byteLength(text));
  const stanzas = Buffer.allocUnsafeSlow(lengths.reduce((sum, n) => sum + n, 0));
  let offset = 0;
  for (const text of texts) {
    offset += stanzas.write(text, offset, 'utf8');
  }
  return {
    seq,
    outcomes: outcomes.map((o) => {
      if (!('deb' in o)) {
        return o;
      }
      const { stanza: _stanza, ...deb } = o.deb;
      return { deb };
    }),
    stanzas,
    lengths,
  };
}

/** The outcomes of a reading thread's answer, each stanza a view of the answer's buffer. */
function unpackReply(reply: Extract<ReadReply, { stanzas: Uint8Array }>): ReadOutcome[] {
  let offset = 0;
  return reply.outcomes.map((outcome, i) => {
    const length = reply.lengths[i] ?? 0;
    const stanza = reply.stanzas.subarray(offset, offset + length);
    offset += length;
    return 'deb' in outcome ? { deb: { ...outcome.deb, stanza } } : outcome;
  });
}

interface ReadingThread {
  readonly worker: Worker;
  /** Tasks given and not answered, by sequence number, with their bytes. */
  readonly pending: Map<
    number,
    {
      resolve(outcomes: ReadOutcome[]): void;
      reject(error: Error): void;
      bytes: number;
      /** The task's .debs, for the message should the thread stop. */
      paths: readonly string[];
    }
  >;
  idle: NodeJS.Timeout | undefined;
  /** Whether it has answered a task. */
  answered: boolean;
}

/** A task's .debs in a message: the first, and how many more. */
function which(paths: readonly string[]): string {
  const [first = 'no .deb', ...others] = paths;
  return others.length === 0 ? first : `${first} and ${others.length} other .debs`;
}

/** How long a reading thread without work stays, for the next include. */
const idleMs = 60_000;

/**
 * Reading threads, started as tasks come (up to one fewer than the cores, at
 * least one: the thread adding the packages and the database take the rest)
 * and stopped after a minute without work. A task goes to the thread with
 * the fewest bytes to read and is posted at once: a thread reads its tasks
 * in order without waiting for this thread to hand it the next one, which
 * it may be too busy to do (adding the slice before). Not a general pool
 * library: piscina, tried first, hands tasks out in another order than given
 * once its threads are busy (0, 1, 3, 5..., then 2, 4...), and an include
 * waits for its first tasks first.
 */
export function createDebReaders(threads = Math.max(1, availableParallelism() - 1)): DebReaders {
  const running = new Set<ReadingThread>();
  let lastSeq = 0;

  const stop = (thread: ReadingThread, error: Error) => {
    running.delete(thread);
    clearTimeout(thread.idle);
    for (const task of thread.pending.values()) {
      // Which .debs, since one of them may be why (a thread's heap is small).
      task.reject(
        new Error(`${error.message}, while reading ${which(task.paths)}`, { cause: error }),
      );
    }
    thread.pending.clear();
  };
  const spawn = (): ReadingThread => {
    const thread: ReadingThread = {
      worker: new Worker(new URL('./deb-reader.worker.ts', import.meta.url), {
        // A task's garbage dies young; what a thread keeps is its code.
        resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 64 },
      }),
      pending: new Map(),
      idle: undefined,
      answered: false,
    };
    const { worker } = thread;
    worker.on('message', (reply: ReadReply) => {
      const task = thread.pending.get(reply.seq);
      thread.pending.delete(reply.seq);
      if ('failure' in reply) {
        task?.reject(
          new Error(`a .deb reading thread failed reading ${which(task.paths)}: ${reply.failure}`),
        );
      } else {
        thread.answered = true;
        task?.resolve(unpackReply(reply));
      }
      if (thread.pending.size === 0) {
        worker.unref();
        thread.idle = setTimeout(() => {
          stop(thread, new Error('the .deb reading thread was stopped'));
          void worker.terminate();
        }, idleMs).unref();
      }
    });
    worker.on('error', (error: Error) => {
      stop(thread, error);
    });
    worker.on('exit', (code) => {
      stop(thread, new Error(`a .deb reading thread stopped (exit code ${code})`));
    });
    worker.unref();
    running.add(thread);
    return thread;
  };
  const queuedBytes = (thread: ReadingThread) =>
    [...thread.pending.values()].reduce((sum, task) => sum + task.bytes, 0);
  /** The thread with the least to read: an idle one, a new one, or the least busy. */
  const pick = (): ReadingThread => {
    const threadsNow = [...running];
    const idle = threadsNow.find((t) => t.pending.size === 0);
    if (idle !== undefined || threadsNow.length >= threads) {
      return (
        idle ?? threadsNow.reduce((least, t) => (queuedBytes(t) < queuedBytes(least) ? t : least))
      );
    }
    return spawn();
  };

  return {
    read(component, debs, bytes) {
      // One buffer of the task's own, moved to the thread rather than copied
      // there: `bytes` are often views of a much larger read.
      const joined = Buffer.allocUnsafeSlow(bytes.reduce((sum, b) => sum + b.length, 0));
      let offset = 0;
      for (const content of bytes) {
        joined.set(content, offset);
        offset += content.length;
      }
      const thread = pick();
      clearTimeout(thread.idle);
      const seq = (lastSeq += 1);
      return new Promise((resolve, reject) => {
        thread.pending.set(seq, {
          resolve,
          reject,
          bytes: joined.length,
          paths: debs.map((d) => d.path),
        });
        thread.worker.ref();
        thread.worker.postMessage({ seq, component, debs, bytes: joined } satisfies ReadTask, [
          joined.buffer,
        ]);
      });
    },
    warm() {
      if (running.size === 0) {
        spawn();
      }
    },
    ready() {
      return [...running].some((thread) => thread.answered);
    },
    async close() {
      const stopping = [...running];
      for (const thread of stopping) {
        stop(thread, new Error('the .deb reading threads were closed'));
      }
      await Promise.all(stopping.map((t) => t.worker.terminate()));
    },
  };
}
