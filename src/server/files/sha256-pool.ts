import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';

/** A message to the worker (sha256-worker.js). */
export type HashRequest =
  | {
      readonly op: 'update';
      readonly job: number;
      readonly seq: number;
      readonly memory: SharedArrayBuffer;
      readonly offset: number;
      readonly length: number;
      /** Where to write the block first: a file descriptor of this process, and the offset in it. */
      readonly fd?: number;
      readonly position?: number;
    }
  | { readonly op: 'digest'; readonly job: number; readonly seq: number }
  | { readonly op: 'drop'; readonly job: number };

/** The worker's answer to an `update` or a `digest`. */
export interface HashReply {
  readonly job: number;
  readonly seq: number;
  readonly digest?: string;
  /** The write failed (ENOSPC, EIO...): its error's code and message. */
  readonly error?: { readonly code: string | undefined; readonly message: string };
}

/** Where a block goes: the open file and its offset there. */
export interface BlockTarget {
  readonly handle: FileHandle;
  readonly position: number;
}

/** The sha256 of one content, given block by block in order. */
export interface Sha256Job {
  /**
   * Writes `block` at `target` (when given) and hashes it next. Off the
   * thread both happen in the worker, and `block` must be a view of a
   * SharedArrayBuffer (see `allocate`), left unchanged until this settles.
   */
  update(block: Buffer, target?: BlockTarget): Promise<void>;
  /** The hex digest of every block given; the job is over. */
  digest(): Promise<string>;
  /** Ends the job without a digest (after a failure). */
  drop(): void;
  /** A buffer `update` can take. */
  allocate(size: number): Buffer;
}

/** Hashes (and writes) contents in a worker thread, so that the thread receiving them does not. */
export interface Sha256Pool {
  start(): Sha256Job;
}

/** A job on this thread, for content too small to be worth a message per block. */
export function startInlineSha256(): Sha256Job {
  const hash = createHash('sha256');
  return {
    async update(block, target) {
      // Hashed now, in the order given; the writes may end in any order.
      hash.update(block);
      if (target !== undefined) {
        await writeFully(target.handle, block, target.position);
      }
    },
    digest: () => Promise.resolve(hash.digest('hex')),
    drop() {},
    allocate: (size) => Buffer.allocUnsafeSlow(size),
  };
}

/** Writes all of `data` at `position`; a write may take fewer bytes than asked. */
async function writeFully(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let offset = 0; offset < data.length;) {
    const { bytesWritten } = await handle.write(
      data,
      offset,
      data.length - offset,
      position + offset,
    );
    offset += bytesWritten;
  }
}

interface Pending {
  resolve(digest: string | undefined): void;
  reject(error: unknown): void;
}

/**
 * One worker thread, started on first use and again after a failure, shared by
 * every job. It holds the process open only while it has work. A 1 GiB upload
 * costs about 0.6 s of CPU to hash and as much again to write to the page
 * cache: in the worker both run beside the receiving, which then only copies
 * each chunk into a block (bench:files: 240 -> 440 MB/s here).
 */
export function createSha256Pool(): Sha256Pool {
  let current: Worker | undefined;
  const pending = new Map<number, Pending>();
  let lastJob = 0;
  let lastSeq = 0;

  const spawn = (): Worker => {
    const worker = new Worker(new URL('./sha256-worker.js', import.meta.url), {
      // It holds a few hashes and no more: a small heap keeps its memory small.
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 },
    });
    const fail = (error: unknown) => {
      if (current === worker) {
        current = undefined;
        for (const request of pending.values()) {
          request.reject(error);
        }
        pending.clear();
      }
    };
    worker.on('message', (reply: HashReply) => {
      const request = pending.get(reply.seq);
      pending.delete(reply.seq);
      if (pending.size === 0) {
        worker.unref();
      }
      if (reply.error !== undefined) {
        request?.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
      } else {
        request?.resolve(reply.digest);
      }
    });
    worker.on('error', fail);
    worker.on('exit', (code) => {
      fail(new Error(`the sha256 worker thread stopped (exit code ${code})`));
    });
    worker.unref();
    return worker;
  };

  return {
    start(): Sha256Job {
      current ??= spawn();
      // A job stays on the worker it started on: another one would not have its state.
      const worker = current;
      const job = (lastJob += 1);
      const ask = (
        request:
          | {
              op: 'update';
              memory: SharedArrayBuffer;
              offset: number;
              length: number;
              fd?: number;
              position?: number;
            }
          | { op: 'digest' },
      ) =>
        new Promise<string | undefined>((resolve, reject) => {
          if (current !== worker) {
            reject(new Error('the sha256 worker thread stopped'));
            return;
          }
          const seq = (lastSeq += 1);
          pending.set(seq, { resolve, reject });
          worker.ref();
          worker.postMessage({ ...request, job, seq } satisfies HashRequest);
        });
      return {
        async update(block, target) {
          if (!(block.buffer instanceof SharedArrayBuffer)) {
            throw new TypeError('an off-thread sha256 takes blocks of shared memory');
          }
          await ask({
            op: 'update',
            memory: block.buffer,
            offset: block.byteOffset,
            length: block.length,
            ...(target === undefined ? {} : { fd: target.handle.fd, position: target.position }),
          });
        },
        async digest() {
          const digest = await ask({ op: 'digest' });
          if (digest === undefined) {
            throw new Error('the sha256 worker thread gave no digest');
          }
          return digest;
        },
        drop() {
          if (current === worker) {
            worker.postMessage({ op: 'drop', job } satisfies HashRequest);
          }
        },
        allocate: (size) => Buffer.from(new SharedArrayBuffer(size)),
      };
    },
  };
}
