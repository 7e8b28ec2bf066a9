import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KilnError } from '../../protocol/errors.ts';

/** What was written: the content's size and sha256. */
export interface WrittenContent {
  readonly sha256: string;
  readonly size: number;
}

export interface HashingWriteOptions {
  readonly maxSize: number;
  readonly signal?: AbortSignal | undefined;
  /** Skip the final fsync: the caller makes the content durable later (FileStore.sync). */
  readonly deferSync?: boolean | undefined;
}

/**
 * Writes `source` to the start of the empty file `handle`, hashing and counting
 * it on the way, and stops with `too_large` past `maxSize` bytes. Resolves once
 * the whole content is on disk (fsync), unless `deferSync`. It holds a few
 * blocks of memory, whatever the size of the content, and no more than the
 * content needs when it is small.
 */
export async function writeHashed(
  source: Readable,
  handle: FileHandle,
  options: HashingWriteOptions,
): Promise<WrittenContent> {
  const hash = createHash('sha256');
  const writer = new BlockWriter(
    handle,
    Math.min(blockBytes, options.maxSize),
    options.deferSync !== true,
  );
  let size = 0;
  try {
    await pipeline(
      source,
      async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) {
          size += chunk.length;
          if (size > options.maxSize) {
            throw new KilnError('too_large', `the content is larger than ${options.maxSize} bytes`);
          }
          hash.update(chunk);
          await writer.add(chunk);
        }
      },
      ...(options.signal === undefined ? [] : [{ signal: options.signal }]),
    );
    await writer.finish();
  } finally {
    // Never leave a write running on a file the caller is about to close or remove.
    await writer.settle();
  }
  return { sha256: hash.digest('hex'), size };
}

const blockCount = 4;
const blockBytes = 256 * 1024;
const syncEveryBytes = 64 * 1024 * 1024;

/**
 * Gathers incoming chunks into a ring of blocks and writes each block once
 * full, at its offset, while the next ones fill. The writes are few and their
 * buffers reused, rather than one write per incoming chunk, and the blocks
 * small enough to stay in the CPU cache between the copy into them and the
 * copy out of them (writes of 1 MiB take several times the CPU of 256 KiB ones
 * here). What is written is also flushed to disk every `syncEveryBytes` while
 * more arrives, so that the final fsync has little left to do rather than the
 * whole file.
 */
class BlockWriter {
  readonly #handle: FileHandle;
  readonly #blockBytes: number;
  readonly #sync: boolean;
  // Allocated as they are first needed: a small content takes one block of its own size.
  readonly #blocks: Block[] = [];
  #index = 0;
  #current: Block;
  #filled = 0;
  #written = 0;
  #syncing: Promise<void> = Promise.resolve();
  #syncedUpTo = 0;

  constructor(handle: FileHandle, blockBytes: number, sync: boolean) {
    this.#handle = handle;
    this.#blockBytes = Math.max(1, blockBytes);
    this.#sync = sync;
    this.#current = this.#blockAt(0);
  }

  /** Takes `chunk` (copied: the caller may reuse it), waiting if every block is being written. */
  async add(chunk: Buffer): Promise<void> {
    for (let offset = 0; offset < chunk.length;) {
      const copied = chunk.copy(this.#current.buffer, this.#filled, offset);
      this.#filled += copied;
      offset += copied;
      if (this.#filled === this.#blockBytes) {
        await this.#writeCurrent();
      }
    }
  }

  /** Writes what is left and waits until all of it is on disk (or written, without sync). */
  async finish(): Promise<void> {
    if (this.#filled > 0) {
      await this.#writeCurrent();
    }
    await Promise.all([...this.#blocks.map((b) => b.written), this.#syncing]);
    if (this.#sync) {
      await this.#handle.sync();
    }
  }

  #blockAt(index: number): Block {
    const slot = index % blockCount;
    let block = this.#blocks[slot];
    if (block === undefined) {
      block = { buffer: Buffer.allocUnsafeSlow(this.#blockBytes), written: Promise.resolve() };
      this.#blocks[slot] = block;
    }
    return block;
  }

  /** Waits for every write and flush in flight, whether it succeeds or not. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#blocks.map((b) => b.written), this.#syncing]);
  }

  async #writeCurrent(): Promise<void> {
    const block = this.#current;
    block.written = writeFully(this.#handle, block.buffer.subarray(0, this.#filled), this.#written);
    block.written.catch(() => undefined); // awaited later; this only prevents an unhandled rejection
    this.#written += this.#filled;
    this.#filled = 0;
    if (this.#sync && this.#written - this.#syncedUpTo >= syncEveryBytes) {
      await this.#syncing;
      this.#syncedUpTo = this.#written;
      const writes = this.#blocks.map((b) => b.written);
      this.#syncing = Promise.all(writes).then(() => this.#handle.datasync());
      this.#syncing.catch(() => undefined);
    }
    this.#index += 1;
    this.#current = this.#blockAt(this.#index);
    // The next block is free once its previous write is done.
    await this.#current.written;
  }
}

/** A buffer of the ring, and the write of what it last held. */
interface Block {
  readonly buffer: Buffer;
  written: Promise<void>;
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
