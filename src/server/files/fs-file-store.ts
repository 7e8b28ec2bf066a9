import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KilnError } from '../../protocol/errors.ts';
import type { ByteRange, FileStore, StagedFile, StageOptions } from './file-store.ts';

const readChunkBytes = 1024 * 1024;

/**
 * A file store in a local directory: `blobs/ab/cd/<sha256>` for content and
 * `staging/` for uploads in progress, on the same file system so that a commit
 * is one atomic rename.
 */
export async function createFsFileStore(root: string): Promise<FileStore> {
  const staging = join(root, 'staging');
  const blobs = join(root, 'blobs');
  await mkdir(staging, { recursive: true });
  await mkdir(blobs, { recursive: true });
  await removeStaleStagedFiles(staging);

  const blobDir = (sha256: string) => join(blobs, sha256.slice(0, 2), sha256.slice(2, 4));
  const blobPath = (sha256: string) => join(blobDir(sha256), sha256);

  return {
    async stage(source: Readable, options: StageOptions): Promise<StagedFile> {
      const tempPath = join(staging, randomBytes(16).toString('hex'));
      const digest = new DigestStream(options.maxSize);
      try {
        // `flush` fsyncs the file before it is closed, so a commit is durable.
        await pipeline(
          source,
          digest,
          createWriteStream(tempPath, { flags: 'wx', mode: 0o644, flush: true }),
          ...(options.signal === undefined ? [] : [{ signal: options.signal }]),
        );
      } catch (error) {
        await rm(tempPath, { force: true });
        throw error;
      }
      const sha256 = digest.hash.digest('hex');
      return {
        sha256,
        size: digest.size,
        async commit() {
          const dir = blobDir(sha256);
          await mkdir(dir, { recursive: true });
          await rename(tempPath, blobPath(sha256));
          await syncDirectory(dir);
        },
        async discard() {
          await rm(tempPath, { force: true });
        },
      };
    },

    async openRead(sha256: string, range?: ByteRange): Promise<Readable> {
      const path = blobPath(sha256);
      // Open first so that a missing blob is an error here, not on the stream.
      const handle = await open(path, 'r').catch((error: unknown) => {
        throw new KilnError('not_found', `content ${sha256} is not in the file store`, {
          cause: error,
        });
      });
      return createReadStream('', {
        fd: handle,
        highWaterMark: readChunkBytes,
        ...(range === undefined ? {} : { start: range.start, end: range.end }),
      });
    },

    async has(sha256: string): Promise<boolean> {
      return stat(blobPath(sha256)).then(
        () => true,
        () => false,
      );
    },

    async remove(sha256: string): Promise<void> {
      await rm(blobPath(sha256), { force: true });
    },
  };
}

// Staged files left by a crash are never committed. Another server may share
// this store, so only files untouched for a day are taken as abandoned.
const stagedFileMaxAgeMs = 24 * 3600 * 1000;

async function removeStaleStagedFiles(staging: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(staging)) {
    const path = join(staging, name);
    const info = await stat(path).catch(() => undefined);
    if (info !== undefined && now - info.mtimeMs > stagedFileMaxAgeMs) {
      await rm(path, { force: true });
    }
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Passes bytes through while hashing and counting them, up to a limit. */
class DigestStream extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  readonly #maxSize: number;

  constructor(maxSize: number) {
    super();
    this.#maxSize = maxSize;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.size += chunk.length;
    if (this.size > this.#maxSize) {
      callback(new KilnError('too_large', `the content is larger than ${this.#maxSize} bytes`));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }
}
