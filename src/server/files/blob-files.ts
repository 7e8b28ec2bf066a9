/**
 * Contents kept a file each (`blobs/ab/<sha256>`) by the file store
 * (fs-file-store.ts): writing a staged file, moving it into place, syncing,
 * and the upkeep of the store's directories.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import {
  access,
  open,
  readdir,
  rename,
  rm,
  rmdir,
  stat,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { KilnError } from '../../protocol/errors.ts';
import type { StageOptions } from './file-store.ts';
import { writeHashed, type WrittenContent } from './hashing-writer.ts';
import type { Sha256Pool } from './sha256-pool.ts';

const fanOutName = /^[0-9a-f]{2}$/;

/**
 * Moves the blobs of the earlier layout, `blobs/ab/cd/<sha256>`, to
 * `blobs/ab/<sha256>`, and removes the emptied directories. Each move is a
 * rename within the store, so a start that stops midway leaves every blob in
 * one of the two places, and the next start finishes the work; another server
 * migrating the same store at once only finds less to move. The file
 * `one-level` at the store's root says it is done, so that later starts do
 * not list every blob again.
 */
export async function migrateTwoLevelBlobs(root: string, blobs: string): Promise<void> {
  const done = join(root, 'one-level');
  const migrated = await access(done).then(
    () => true,
    () => false,
  );
  if (migrated) {
    return;
  }
  for (const top of await readdir(blobs, { withFileTypes: true })) {
    if (!top.isDirectory() || !fanOutName.test(top.name)) {
      continue;
    }
    const dir = join(blobs, top.name);
    for (const second of await readdir(dir, { withFileTypes: true })) {
      if (!second.isDirectory() || !fanOutName.test(second.name)) {
        continue;
      }
      const old = join(dir, second.name);
      for (const name of await readdir(old).catch(ignoreMissing)) {
        await rename(join(old, name), join(dir, name)).catch(ignoreMissing);
      }
      await rmdir(old).catch((error: unknown) => {
        // Another server migrating at once removed it, or put one more blob in it.
        if (!['ENOENT', 'ENOTEMPTY'].includes((error as NodeJS.ErrnoException).code ?? '')) {
          throw error;
        }
      });
    }
  }
  await writeFile(done, 'blobs/ab/<sha256>\n');
}

/** Passes over a file or directory someone else moved or removed meanwhile. */
function ignoreMissing(error: unknown): never[] {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
    return [];
  }
  throw error;
}

// Staged files left by a crash are never committed. Another server may share
// this store, so only files untouched for a day are taken as abandoned.
const stagedFileMaxAgeMs = 24 * 3600 * 1000;

export async function removeStaleStagedFiles(staging: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(staging)) {
    const path = join(staging, name);
    const info = await stat(path).catch(() => undefined);
    if (info !== undefined && now - info.mtimeMs > stagedFileMaxAgeMs) {
      await rm(path, { force: true });
    }
  }
}

/** Writes a stream to the new file `path`, hashing it on the way (`writeHashed`). */
export async function writeStream(
  source: Readable,
  path: string,
  options: StageOptions & { readonly hashPool: Sha256Pool },
): Promise<WrittenContent> {
  const handle = await open(path, 'wx', 0o644);
  try {
    return await writeHashed(source, handle, options);
  } finally {
    await handle.close();
  }
}

/**
 * Writes content held in memory to the new file `path`, as `writeStream`
 * writes a stream, but synchronously: it is small (a .deb, an index chunk),
 * and a batch stores thousands, for which an asynchronous open, write and
 * close cost several times the writing (20,000 .debs: 2.7 s of this thread
 * against 0.7 s).
 */
export function writeBufferNow(
  content: Buffer,
  path: string,
  options: StageOptions,
): WrittenContent {
  options.signal?.throwIfAborted();
  if (content.length > options.maxSize) {
    throw new KilnError('too_large', `the content is larger than ${options.maxSize} bytes`);
  }
  const sha256 = createHash('sha256').update(content).digest('hex');
  const fd = openSync(path, 'wx', 0o644);
  try {
    for (let offset = 0; offset < content.length;) {
      offset += writeSync(fd, content, offset, content.length - offset, offset);
    }
    if (options.deferSync !== true) {
      fsyncSync(fd);
    }
  } finally {
    closeSync(fd);
  }
  return { sha256, size: content.length };
}

/**
 * Renames a staged file to its blob path, making the blob's directory when
 * this process has not yet (synchronously: one rename a file, see
 * `writeBufferNow`).
 */
export function moveIntoPlace(
  tempPath: string,
  dir: string,
  target: string,
  madeDirs: Set<string>,
) {
  if (!madeDirs.has(dir)) {
    mkdirSync(dir, { recursive: true });
    madeDirs.add(dir);
  }
  try {
    renameSync(tempPath, target);
  } catch (error) {
    // Made once, but removed since by someone else: make it again.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw error;
    }
    mkdirSync(dir, { recursive: true });
    renameSync(tempPath, target);
  }
}

/** fsyncs a file, or a directory (its entries: a rename into it). */
export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function openBlob(path: string, sha256: string): Promise<FileHandle> {
  return open(path, 'r').catch((error: unknown) => {
    throw new KilnError('not_found', `content ${sha256} is not in the file store`, {
      cause: error,
    });
  });
}
