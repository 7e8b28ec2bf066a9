import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  type FileHandle,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { KilnError } from '../../protocol/errors.ts';
import { sendFileRange } from './file-sender.ts';
import type {
  ByteRange,
  FileStore,
  StagedFile,
  StageOptions,
  StoredContent,
} from './file-store.ts';
import { writeHashed, type WrittenContent } from './hashing-writer.ts';

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
  // Blob directories are never removed: each is made once per process, not once per commit.
  const madeDirs = new Set<string>();

  return {
    async stage(source: Readable, options: StageOptions): Promise<StagedFile> {
      const tempPath = join(staging, randomBytes(16).toString('hex'));
      let written: WrittenContent;
      try {
        // Hashed on the way and fsynced before it is closed, so that a commit is durable.
        const handle = await open(tempPath, 'wx', 0o644);
        try {
          written = await writeHashed(source, handle, options);
        } finally {
          await handle.close();
        }
      } catch (error) {
        await rm(tempPath, { force: true });
        throw error;
      }
      const { sha256, size } = written;
      return {
        sha256,
        size,
        async commit() {
          const dir = blobDir(sha256);
          if (!madeDirs.has(dir)) {
            await mkdir(dir, { recursive: true });
            madeDirs.add(dir);
          }
          await rename(tempPath, blobPath(sha256)).catch(async (error: unknown) => {
            // Made once, but removed since by someone else: make it again.
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
              throw error;
            }
            await mkdir(dir, { recursive: true });
            await rename(tempPath, blobPath(sha256));
          });
          if (options.deferSync !== true) {
            await syncDirectory(dir);
          }
        },
        async discard() {
          await rm(tempPath, { force: true });
        },
      };
    },

    async openRead(sha256: string, range?: ByteRange): Promise<Readable> {
      // Open first so that a missing blob is an error here, not on the stream.
      const handle = await openBlob(blobPath(sha256), sha256);
      return createReadStream('', {
        fd: handle,
        highWaterMark: readChunkBytes,
        ...(range === undefined ? {} : { start: range.start, end: range.end }),
      });
    },

    async read(sha256: string): Promise<Buffer> {
      return readFile(blobPath(sha256)).catch((error: unknown) => {
        throw new KilnError('not_found', `content ${sha256} is not in the file store`, {
          cause: error,
        });
      });
    },

    async sync(sha256s: readonly string[]): Promise<void> {
      const unique = [...new Set(sha256s)];
      if (unique.length > syncEachUpTo) {
        // syncfs(2), which Node does not expose: one flush of the file system
        // for a large batch instead of an fsync per file and per directory.
        await promisify(execFile)('sync', ['--file-system', root]);
        return;
      }
      await Promise.all(unique.map((sha256) => syncFile(blobPath(sha256))));
      await Promise.all([...new Set(unique.map(blobDir))].map(syncDirectory));
    },

    async openContent(sha256: string): Promise<StoredContent> {
      const handle = await openBlob(blobPath(sha256), sha256);
      let closing: Promise<void> | undefined;
      try {
        const { size } = await handle.stat();
        return {
          size,
          sendTo: (destination, range) =>
            sendFileRange(handle, destination, range?.start ?? 0, (range?.end ?? size - 1) + 1),
          close: () => (closing ??= handle.close()),
        };
      } catch (error) {
        await handle.close();
        throw error;
      }
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

// A few files are fsynced one by one (in parallel); a larger batch is cheaper
// as one flush of the whole file system, which costs tens of milliseconds on a busy one.
const syncEachUpTo = 64;

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
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

async function openBlob(path: string, sha256: string): Promise<FileHandle> {
  return open(path, 'r').catch((error: unknown) => {
    throw new KilnError('not_found', `content ${sha256} is not in the file store`, {
      cause: error,
    });
  });
}
