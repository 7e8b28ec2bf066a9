import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import {
  access,
  mkdir,
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
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { KilnError } from '../../protocol/errors.ts';
import { sendFileRange } from './file-sender.ts';
import { openContentPacks, packedContentMaxBytes, type PackedPlace } from './content-packs.ts';
import type {
  ByteRange,
  FileStore,
  StagedFile,
  StageOptions,
  StoredContent,
} from './file-store.ts';
import { writeHashed, type WrittenContent } from './hashing-writer.ts';
import { createSha256Pool, type Sha256Pool } from './sha256-pool.ts';

const readChunkBytes = 1024 * 1024;

/**
 * A file store in a local directory: `blobs/ab/<sha256>` for content and
 * `staging/` for uploads in progress, on the same file system so that a commit
 * is one atomic rename. One level of 256 directories, as git keeps its loose
 * objects: a second level (`blobs/ab/cd/`, which kiln used before, and which
 * `migrateTwoLevelBlobs` undoes) makes nearly every new small file make a new
 * directory too, which cost ten times the renaming of a 20,000-package import
 * here; 256 directories hold tens of millions of files before a lookup in one
 * slows.
 */
export async function createFsFileStore(root: string): Promise<FileStore> {
  const staging = join(root, 'staging');
  const blobs = join(root, 'blobs');
  await mkdir(staging, { recursive: true });
  await mkdir(blobs, { recursive: true });
  await removeStaleStagedFiles(staging);
  await migrateTwoLevelBlobs(root, blobs);

  const blobDir = (sha256: string) => join(blobs, sha256.slice(0, 2));
  const blobPath = (sha256: string) => join(blobDir(sha256), sha256);
  // Blob directories are never removed: each is made once per process, not once per commit.
  const madeDirs = new Set<string>();
  const hashPool = createSha256Pool();
  // Staged files are named by this process's prefix and a count: unique
  // among servers sharing the store, and made with O_EXCL besides.
  const tempPrefix = randomBytes(8).toString('hex');
  let tempCount = 0;
  const packs = openContentPacks(join(root, 'packs'), tempPrefix);
  // Contents committed as files with `deferSync`, until `sync`.
  const looseUnsynced = new Set<string>();

  /** Where stored content is: in a pack, as a file, or (undefined) nowhere. */
  const findContent = (sha256: string): PackedPlace | 'file' | undefined => {
    const packed = packs.locate(sha256);
    if (packed !== undefined) {
      return packed;
    }
    try {
      statSync(blobPath(sha256));
      return 'file';
    } catch {
      // Written by another server since this one last looked, perhaps.
      return packs.locate(sha256, true);
    }
  };
  /** Opens stored content: its file handle, and where in it the content starts. */
  const openStored = async (sha256: string): Promise<OpenedContent> => {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const found = findContent(sha256);
      if (found === 'file') {
        const handle = await openBlob(blobPath(sha256), sha256);
        try {
          return { handle, start: 0, size: (await handle.stat()).size };
        } catch (error) {
          await handle.close();
          throw error;
        }
      }
      if (found !== undefined) {
        const handle = await open(found.pack.dataPath, 'r').catch(() => undefined);
        if (handle !== undefined) {
          return { handle, start: found.offset, size: found.size };
        }
        // Its pack was compacted away meanwhile: look again.
        packs.locate(sha256, true);
      }
    }
    throw new KilnError('not_found', `content ${sha256} is not in the file store`);
  };
  /**
   * Reads small content whole. Synchronously, as small content is written (see
   * writeBufferNow): an include reads thousands of .debs, and an asynchronous
   * open, stat, read and close cost four times the reading (20,000: 1.9 s of
   * this thread against 0.5 s).
   */
  const readOne = (sha256: string): Buffer => {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const found = findContent(sha256);
      if (found === 'file') {
        try {
          return readFileSync(blobPath(sha256));
        } catch {
          continue; // Removed just now, or packed by another server.
        }
      }
      const content = found === undefined ? undefined : packs.readAt(found);
      if (content !== undefined) {
        return content;
      }
      packs.locate(sha256, true);
    }
    throw new KilnError('not_found', `content ${sha256} is not in the file store`);
  };
  /** Small contents staged in the current pack, with one write. */
  const stagePacked = (contents: readonly Buffer[], options: StageOptions): StagedFile[] => {
    options.signal?.throwIfAborted();
    if (contents.some((content) => content.length > options.maxSize)) {
      throw new KilnError('too_large', `the content is larger than ${options.maxSize} bytes`);
    }
    const hashed = contents.map((content) => ({
      content,
      sha256: createHash('sha256').update(content).digest('hex'),
    }));
    return packs.appendMany(hashed).map((packed, i) => ({
      sha256: hashed[i]?.sha256 ?? '',
      size: contents[i]?.length ?? 0,
      commit: async () => {
        packed.commit();
      },
      discard: async () => {
        packed.discard();
      },
    }));
  };
  const packable = (source: Readable | Buffer, options: StageOptions): source is Buffer =>
    Buffer.isBuffer(source) && options.deferSync === true && source.length <= packedContentMaxBytes;

  const store: FileStore = {
    async stageMany(contents: readonly Buffer[], options: StageOptions): Promise<StagedFile[]> {
      if (contents.every((content) => packable(content, options))) {
        return stagePacked(contents, options);
      }
      const staged: StagedFile[] = [];
      try {
        for (const content of contents) {
          staged.push(await store.stage(content, options));
        }
      } catch (error) {
        await Promise.all(staged.map((f) => f.discard()));
        throw error;
      }
      return staged;
    },

    async stage(source: Readable | Buffer, options: StageOptions): Promise<StagedFile> {
      if (packable(source, options)) {
        const [staged] = stagePacked([source], options);
        if (staged !== undefined) {
          return staged;
        }
      }
      const tempPath = join(staging, `${tempPrefix}-${(tempCount += 1)}`);
      let written: WrittenContent;
      try {
        written = Buffer.isBuffer(source)
          ? writeBufferNow(source, tempPath, options)
          : await writeStream(source, tempPath, { ...options, hashPool });
      } catch (error) {
        await rm(tempPath, { force: true });
        throw error;
      }
      const { sha256, size } = written;
      let committed = false;
      return {
        sha256,
        size,
        async commit() {
          const dir = blobDir(sha256);
          moveIntoPlace(tempPath, dir, blobPath(sha256), madeDirs);
          committed = true;
          if (options.deferSync === true) {
            looseUnsynced.add(sha256);
          } else {
            await syncDirectory(dir);
          }
        },
        async discard() {
          // Nothing is left to remove once committed (a batch discards thousands).
          if (!committed) {
            await rm(tempPath, { force: true });
          }
        },
      };
    },

    async openRead(sha256: string, range?: ByteRange): Promise<Readable> {
      // Open first so that a missing content is an error here, not on the stream.
      const { handle, start, size } = await openStored(sha256);
      if (size === 0) {
        await handle.close();
        return Readable.from([]);
      }
      return createReadStream('', {
        fd: handle,
        highWaterMark: readChunkBytes,
        start: start + (range?.start ?? 0),
        end: start + (range?.end ?? size - 1),
      });
    },

    read: async (sha256: string): Promise<Buffer> => readOne(sha256),

    async readMany(sha256s: readonly string[]): Promise<Buffer[]> {
      const places = sha256s.map((sha256) => packs.locate(sha256));
      const packed = packs.readMany(places.filter((p) => p !== undefined));
      let next = 0;
      const results: Buffer[] = [];
      for (const [index, place] of places.entries()) {
        const content = place === undefined ? undefined : packed[next++];
        // Not packed, or its pack compacted away meanwhile: one by one.
        results.push(content ?? readOne(sha256s[index] ?? ''));
      }
      return results;
    },

    async sync(sha256s: readonly string[]): Promise<void> {
      await packs.flush();
      const unique = [...new Set(sha256s)].filter(
        (sha256) => looseUnsynced.delete(sha256) || packs.locate(sha256) === undefined,
      );
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
      const { handle, start, size } = await openStored(sha256);
      let closing: Promise<void> | undefined;
      return {
        size,
        sendTo: (destination, range) =>
          sendFileRange(
            handle,
            destination,
            start + (range?.start ?? 0),
            start + (range?.end ?? size - 1) + 1,
          ),
        close: () => (closing ??= handle.close()),
      };
    },

    async has(sha256: string): Promise<boolean> {
      // Looked up afresh: another server may have removed it.
      return (
        packs.locate(sha256, true) !== undefined ||
        stat(blobPath(sha256)).then(
          () => true,
          () => false,
        )
      );
    },

    async remove(sha256: string): Promise<void> {
      await rm(blobPath(sha256), { force: true });
      await packs.remove(sha256);
    },

    async compact(): Promise<void> {
      await packs.compact();
    },
  };
  return store;
}

/** Stored content opened for reading: in its own file (`start` 0) or in a pack. */
interface OpenedContent {
  readonly handle: FileHandle;
  readonly start: number;
  readonly size: number;
}

/** The sha256s of the contents a store holds, read from disk (for tests and tools). */
export async function listStoredContents(root: string): Promise<string[]> {
  const files = await readdir(join(root, 'blobs'), { recursive: true, withFileTypes: true });
  const loose = files.filter((e) => e.isFile() && /^[0-9a-f]{64}$/.test(e.name)).map((e) => e.name);
  const packed = openContentPacks(join(root, 'packs'), 'reader').list();
  return [...new Set([...loose, ...packed])];
}

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
async function migrateTwoLevelBlobs(root: string, blobs: string): Promise<void> {
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

/** Writes a stream to the new file `path`, hashing it on the way (`writeHashed`). */
async function writeStream(
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
function writeBufferNow(content: Buffer, path: string, options: StageOptions): WrittenContent {
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
function moveIntoPlace(tempPath: string, dir: string, target: string, madeDirs: Set<string>) {
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
