import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { KilnError } from '../../protocol/errors.ts';
import { sendFileRange } from './file-sender.ts';
import { openPackIndex } from './content-pack-index.ts';
import { unlinkIfPresent } from './content-pack-log.ts';
import { openContentPacks, packedContentMaxBytes, type PackedPlace } from './content-packs.ts';
import type {
  ByteRange,
  FileStore,
  StagedFile,
  StageOptions,
  StoredContent,
} from './file-store.ts';
import {
  migrateTwoLevelBlobs,
  moveIntoPlace,
  openBlob,
  removeStaleStagedFiles,
  syncPath,
  writeBufferNow,
  writeStream,
} from './blob-files.ts';
import type { WrittenContent } from './hashing-writer.ts';
import { createSha256Pool } from './sha256-pool.ts';

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
            await syncPath(dir);
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
      await Promise.all(unique.map((sha256) => syncPath(blobPath(sha256))));
      await Promise.all([...new Set(unique.map(blobDir))].map(syncPath));
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

    async remove(sha256s: readonly string[]): Promise<void> {
      // Synchronously: most contents are packed, and a path that is not there
      // costs a lookup here against ~100 µs through libuv's threads.
      for (const sha256 of sha256s) {
        unlinkIfPresent(blobPath(sha256));
      }
      await packs.remove(sha256s);
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
  // Read only: a store that never packed a content has no packs/, and gets none.
  const packs = join(root, 'packs');
  const packed = existsSync(packs) ? openPackIndex(packs, () => false).sha256s() : [];
  return [...new Set([...loose, ...packed])];
}

// A few files are fsynced one by one (in parallel); a larger batch is cheaper
// as one flush of the whole file system, which costs tens of milliseconds on a busy one.
const syncEachUpTo = 64;
