import { closeSync, constants, fdatasync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import {
  openPackIndex,
  readPlace,
  readPlaces,
  type Pack,
  type PackedPlace,
} from './content-pack-index.ts';
import {
  added,
  appendFully,
  encodeRecord,
  encodeRecords,
  fileSize,
  isMissing,
  removed,
  sealed,
  syncDirectory,
  unlinkIfPresent,
  writeFully,
} from './content-pack-log.ts';

export type { PackedPlace } from './content-pack-index.ts';

/**
 * Small contents kept many to a file: a batch of 20,000 .debs is appended to
 * one pack and made durable with two flushes, where a file per content cost
 * 20,000 creates and renames, each stalling behind the file system's journal
 * while a flush runs (0.5 to 3.7 s here, against 24 ms to append).
 *
 * On disk, `packs/<name>.pack` holds the bytes and `packs/<name>.idx` a log of
 * fixed 64-byte records about them: a content added (sha256, offset, size), a
 * content removed (the exact place, so that removals and additions by several
 * servers sharing the store never need ordering), and `sealed` when its writer
 * will add no more. Each process writes its own packs, appending a content's
 * bytes when it is staged and its record only once the bytes are durable, so a
 * record always names durable bytes; bytes never recorded (a failed upload,
 * a crash) are dead space that compaction drops. Any process appends removals
 * (O_APPEND: a 64-byte write lands whole), and each record carries a CRC-32.
 *
 * Every process keeps a map of sha256 → places, read from the logs at start
 * and brought up to date when a content is not found, before a removal and
 * before compaction. A place that is stale is still right (contents are named
 * by their digest); one whose pack was compacted away fails to open, and the
 * reader looks again.
 */
export interface ContentPacks {
  /** Appends `content` now (not durably); `commit` makes it found under `sha256`. */
  append(content: Buffer, sha256: string): PackedContent;
  /** As `append` of each, with one write for them all (a batch of small uploads). */
  appendMany(contents: readonly { content: Buffer; sha256: string }[]): PackedContent[];
  /** Where the content is, looking again on disk first if `fresh`. */
  locate(sha256: string, fresh?: boolean): PackedPlace | undefined;
  /** Reads a place's bytes; undefined if its pack was compacted away meanwhile. */
  readAt(place: PackedPlace): Buffer | undefined;
  /** Reads several places, neighbours in a pack with one read; as `readAt` each. */
  readMany(places: readonly PackedPlace[]): (Buffer | undefined)[];
  /** Makes every committed content durable and recorded. */
  flush(): Promise<void>;
  /** Records the removal of every place of the contents: one write a pack. */
  remove(sha256s: readonly string[]): Promise<void>;
  /** Copies the live contents of sealed packs that are mostly dead into a new one, and deletes them. */
  compact(options?: { readonly staleMs?: number }): Promise<void>;
  /** The sha256s of the contents held, read afresh from disk. */
  list(): string[];
}

export interface PackedContent {
  /** Makes the content found by this process now, and by others after `flush`. */
  commit(): void;
  /** Leaves the uncommitted bytes as dead space. Safe after `commit` or twice. */
  discard(): void;
}

/** A pack this process writes. */
interface WritingPack {
  readonly pack: Pack;
  readonly fd: number;
  readonly idxFd: number;
  readonly created: number;
  size: number;
  /** Contents appended and neither discarded nor recorded yet. */
  unresolved: number;
  retired: boolean;
}

interface Pending {
  readonly writing: WritingPack;
  readonly sha256: string;
  readonly offset: number;
  readonly size: number;
}

/** Contents up to this size are packed; larger ones are a file each, for which a create costs little. */
export const packedContentMaxBytes = 1024 * 1024;
/** A writer starts a new pack past this size or age, so that packs can be sealed and compacted. */
const packMaxBytes = 256 * 1024 * 1024;
const packMaxAgeMs = 3600 * 1000;
/** An unsealed pack untouched for this long was left by a writer that stopped (a crash). */
const abandonedAfterMs = 24 * 3600 * 1000;

/** How often a process reads the logs even when it finds what it looks for. */
const refreshEveryMs = 60 * 1000;

const fdatasyncAsync = promisify(fdatasync);

/** Where a writer starts a new pack; smaller in tests, to seal packs. */
export interface PackLimits {
  readonly maxBytes: number;
  readonly maxAgeMs: number;
}

export function openContentPacks(
  dir: string,
  writerId: string,
  limits: PackLimits = { maxBytes: packMaxBytes, maxAgeMs: packMaxAgeMs },
): ContentPacks {
  mkdirSync(dir, { recursive: true });
  const writers = new Map<Pack, WritingPack>();
  const index = openPackIndex(dir, (pack) => writers.has(pack));
  let current: WritingPack | undefined;
  let packCount = 0;
  let pending: Pending[] = [];
  let flushing: Promise<void> = Promise.resolve();

  const startPack = (): WritingPack => {
    packCount += 1;
    const created = Date.now();
    const pack = index.newPack(`${created}-${writerId}-${packCount}`);
    const fd = openSync(pack.dataPath, 'wx', 0o644);
    const idxFd = openSync(pack.idxPath, 'ax', 0o644);
    syncDirectory(dir);
    index.add(pack);
    const writing: WritingPack = {
      pack,
      fd,
      idxFd,
      created,
      size: 0,
      unresolved: 0,
      retired: false,
    };
    writers.set(pack, writing);
    return writing;
  };
  const writingPack = (bytes: number): WritingPack => {
    if (
      current === undefined ||
      (current.size > 0 && current.size + bytes > limits.maxBytes) ||
      Date.now() - current.created > limits.maxAgeMs
    ) {
      if (current !== undefined) {
        current.retired = true;
        sealIfDone(current);
      }
      current = startPack();
    }
    return current;
  };
  /** A retired pack whose contents are all recorded or discarded gets its `sealed` record. */
  const sealIfDone = (writing: WritingPack) => {
    if (!writing.retired || writing.unresolved > 0 || !writers.has(writing.pack)) {
      return;
    }
    writeSync(writing.idxFd, encodeRecord(sealed, undefined, 0, 0));
    closeSync(writing.fd);
    closeSync(writing.idxFd);
    writers.delete(writing.pack);
    writing.pack.sealed = true;
  };

  const flushPending = async () => {
    const batch = pending;
    pending = [];
    const byPack = new Map<WritingPack, Pending[]>();
    for (const entry of batch) {
      const entries = byPack.get(entry.writing) ?? [];
      entries.push(entry);
      byPack.set(entry.writing, entries);
    }
    for (const [writing, entries] of byPack) {
      // The bytes first: a record names only durable bytes.
      await fdatasyncAsync(writing.fd);
      const records = encodeRecords(added, entries);
      await appendFully(writing.idxFd, records);
      await fdatasyncAsync(writing.idxFd);
      writing.unresolved -= entries.length;
      sealIfDone(writing);
    }
  };

  /** Records the removal of places in `pack`, with one write; false if its log is gone. */
  const appendRemovals = (pack: Pack, gone: readonly PackedPlace[]): boolean => {
    let fd: number;
    try {
      // No O_CREAT: a log compacted away meanwhile must not come back as a removal alone.
      fd = openSync(pack.idxPath, constants.O_WRONLY | constants.O_APPEND);
    } catch (error) {
      if (isMissing(error)) {
        return false;
      }
      throw error;
    }
    try {
      const records = encodeRecords(
        removed,
        gone.map((place) => ({ ...place, sha256: pack.live.get(place.offset)?.sha256 })),
      );
      for (let written = 0; written < records.length;) {
        written += writeSync(fd, records, written);
      }
    } finally {
      closeSync(fd);
    }
    for (const place of gone) {
      index.dropPlace(pack, place.offset);
    }
    return true;
  };

  /**
   * A content appended at `offset`, to commit or discard. It keeps the size,
   * not the content: a view of a socket's chunk would keep the whole chunk alive.
   */
  const placed = (
    writing: WritingPack,
    sha256: string,
    offset: number,
    size: number,
  ): PackedContent => {
    let state: 'staged' | 'committed' | 'discarded' = 'staged';
    return {
      commit() {
        if (state !== 'staged') {
          return;
        }
        state = 'committed';
        index.addPlace(writing.pack, sha256, offset, size);
        pending.push({ writing, sha256, offset, size });
      },
      discard() {
        if (state !== 'staged') {
          return;
        }
        state = 'discarded';
        writing.unresolved -= 1;
        sealIfDone(writing);
      },
    };
  };

  const contentPacks = {
    append(content: Buffer, sha256: string): PackedContent {
      const [packed] = contentPacks.appendMany([{ content, sha256 }]);
      if (packed === undefined) {
        throw new Error('unreachable: one content appended gives one place');
      }
      return packed;
    },

    appendMany(contents: readonly { content: Buffer; sha256: string }[]): PackedContent[] {
      // An empty content takes a byte too: places are told apart by offset.
      const spans = contents.map(({ content }) => Math.max(content.length, 1));
      const total = spans.reduce((sum, span) => sum + span, 0);
      const writing = writingPack(total);
      const start = writing.size;
      writing.size += total;
      const only = contents.length === 1 ? contents[0]?.content : undefined;
      // One content is written as it is; several, joined (a byte of zero for an empty one).
      const bytes =
        only !== undefined && only.length === total
          ? only
          : Buffer.concat(
              contents.map(({ content }) => (content.length === 0 ? Buffer.alloc(1) : content)),
              total,
            );
      writeFully(writing.fd, bytes, start);
      writing.unresolved += contents.length;
      let offset = start;
      return contents.map(({ content, sha256 }, i) => {
        const at = offset;
        offset += spans[i] ?? 1;
        return placed(writing, sha256, at, content.length);
      });
    },

    locate(sha256: string, fresh = false): PackedPlace | undefined {
      // Now and then even when found: a pack compacted away by another
      // server is let go (its open file, and so its disk space).
      if (fresh || Date.now() - index.refreshedAt > refreshEveryMs) {
        index.refresh();
      }
      return index.placesOf(sha256)[0];
    },

    readAt: readPlace,
    readMany: readPlaces,

    flush(): Promise<void> {
      // In turn: a flush waits for the one before it, which may hold its contents.
      const run = flushing.then(flushPending);
      flushing = run.catch(() => undefined);
      return run;
    },

    async remove(sha256s: readonly string[]): Promise<void> {
      await contentPacks.flush();
      let left = [...new Set(sha256s)];
      // A place may vanish under a compaction and reappear in its new pack: look again, a few times.
      for (let attempt = 0; attempt < 3 && left.length > 0; attempt += 1) {
        index.refresh();
        const byPack = new Map<Pack, { sha256: string; place: PackedPlace }[]>();
        for (const sha256 of left) {
          for (const place of index.placesOf(sha256)) {
            const inPack = byPack.get(place.pack) ?? [];
            inPack.push({ sha256, place });
            byPack.set(place.pack, inPack);
          }
        }
        const again = new Set<string>();
        for (const [pack, gone] of byPack) {
          const places = gone.map((g) => g.place);
          if (!appendRemovals(pack, places)) {
            for (const { sha256 } of gone) {
              again.add(sha256);
            }
          }
        }
        left = [...again];
      }
    },

    async compact(options: { readonly staleMs?: number } = {}): Promise<void> {
      await contentPacks.flush();
      index.refresh();
      const now = Date.now();
      for (const pack of [...index.packs.values()]) {
        if (writers.has(pack) || !(pack.sealed || isAbandoned(pack, now, options.staleMs))) {
          continue;
        }
        const size = fileSize(pack.dataPath);
        const liveBytes = [...pack.live.values()].reduce((sum, e) => sum + e.size, 0);
        if (size === undefined || size - liveBytes < size / 2) {
          continue;
        }
        const moved: { sha256: string; copy: PackedContent }[] = [];
        for (const [offset, { sha256, size: bytes }] of pack.live) {
          const content = readPlace({ pack, offset, size: bytes });
          if (content !== undefined) {
            moved.push({ sha256, copy: contentPacks.append(content, sha256) });
          }
        }
        for (const { copy } of moved) {
          copy.commit();
        }
        await contentPacks.flush();
        // Removed from the old pack while copying: remove the copy too.
        const liveBefore = new Set([...pack.live.values()].map((e) => e.sha256));
        index.readLog(pack);
        const stillLive = new Set([...pack.live.values()].map((e) => e.sha256));
        for (const sha256 of liveBefore) {
          if (!stillLive.has(sha256)) {
            for (const place of index.placesOf(sha256)) {
              if (place.pack !== pack) {
                appendRemovals(place.pack, [place]);
              }
            }
          }
        }
        // The log first: without it the pack's bytes are found by no one.
        unlinkIfPresent(pack.idxPath);
        index.forget(pack);
        unlinkIfPresent(pack.dataPath);
      }
    },

    list(): string[] {
      index.refresh();
      return index.sha256s();
    },
  };
  return contentPacks;
}

function isAbandoned(pack: Pack, now: number, staleMs = abandonedAfterMs): boolean {
  const touched = [pack.idxPath, pack.dataPath].map((path) => {
    try {
      return statSync(path).mtimeMs;
    } catch {
      return now;
    }
  });
  return touched.every((mtime) => now - mtime > staleMs);
}
