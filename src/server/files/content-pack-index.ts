import { closeSync, fstatSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  added,
  decodeRecord,
  isMissing,
  readFully,
  recordBytes,
  removed,
  sealed,
} from './content-pack-log.ts';

/** A pack's two files, and what this process has read of its log. */
export interface Pack {
  readonly name: string;
  readonly dataPath: string;
  readonly idxPath: string;
  /** How much of the log has been read. */
  readBytes: number;
  sealed: boolean;
  /** Live contents by offset. */
  readonly live: Map<number, { readonly sha256: string; readonly size: number }>;
  readFd: number | undefined;
}

/** Where a content is: its pack, offset and size. */
export interface PackedPlace {
  readonly pack: Pack;
  readonly offset: number;
  readonly size: number;
}

/**
 * What a process knows of the packs in a directory (see content-packs.ts):
 * sha256 → places, read from the packs' logs and brought up to date on demand.
 */
export interface PackIndex {
  readonly packs: ReadonlyMap<string, Pack>;
  /** When the logs were last read (Date.now()). */
  readonly refreshedAt: number;
  /** The places of a content as last read; empty if none. */
  placesOf(sha256: string): readonly PackedPlace[];
  /** The sha256s of every content with a place. */
  sha256s(): string[];
  /** A new pack of this process's, with no log read yet. */
  newPack(name: string): Pack;
  /** Lists a pack (one this process starts). */
  add(pack: Pack): void;
  addPlace(pack: Pack, sha256: string, offset: number, size: number): void;
  dropPlace(pack: Pack, offset: number): void;
  /** Drops a pack and its places, and closes its file. */
  forget(pack: Pack): void;
  /** Reads what was appended to one pack's log since last time; forgets it if the log is gone. */
  readLog(pack: Pack): void;
  /** Reads every log's new records, and forgets the packs compacted away. */
  refresh(): void;
}

/**
 * Opens the index of the packs in `dir` and reads their logs. `writtenHere`
 * tells the packs this process is writing, which are kept while their logs
 * are not listed yet.
 */
export function openPackIndex(dir: string, writtenHere: (pack: Pack) => boolean): PackIndex {
  const packs = new Map<string, Pack>();
  const places = new Map<string, PackedPlace[]>();

  const index: PackIndex & { refreshedAt: number } = {
    packs,
    refreshedAt: 0,
    placesOf: (sha256) => places.get(sha256) ?? [],
    sha256s: () => [...places.keys()],
    newPack: (name) => ({
      name,
      dataPath: join(dir, `${name}.pack`),
      idxPath: join(dir, `${name}.idx`),
      readBytes: 0,
      sealed: false,
      live: new Map(),
      readFd: undefined,
    }),
    add(pack) {
      packs.set(pack.name, pack);
    },
    addPlace(pack, sha256, offset, size) {
      if (pack.live.has(offset)) {
        return;
      }
      pack.live.set(offset, { sha256, size });
      const list = places.get(sha256) ?? [];
      list.push({ pack, offset, size });
      places.set(sha256, list);
    },
    dropPlace(pack, offset) {
      const entry = pack.live.get(offset);
      if (entry === undefined) {
        return;
      }
      pack.live.delete(offset);
      const left = (places.get(entry.sha256) ?? []).filter(
        (p) => p.pack !== pack || p.offset !== offset,
      );
      if (left.length === 0) {
        places.delete(entry.sha256);
      } else {
        places.set(entry.sha256, left);
      }
    },
    forget(pack) {
      for (const offset of [...pack.live.keys()]) {
        index.dropPlace(pack, offset);
      }
      if (pack.readFd !== undefined) {
        closeSync(pack.readFd);
      }
      packs.delete(pack.name);
    },
    readLog(pack) {
      let fd: number;
      try {
        fd = openSync(pack.idxPath, 'r');
      } catch (error) {
        if (isMissing(error)) {
          index.forget(pack);
          return;
        }
        throw error;
      }
      try {
        const whole = fstatSync(fd).size;
        const length = whole - pack.readBytes - ((whole - pack.readBytes) % recordBytes);
        if (length <= 0) {
          return;
        }
        const log = Buffer.allocUnsafe(length);
        readFully(fd, log, pack.readBytes);
        pack.readBytes += length;
        for (let at = 0; at < length; at += recordBytes) {
          applyRecord(pack, log.subarray(at, at + recordBytes));
        }
      } finally {
        closeSync(fd);
      }
    },
    refresh() {
      index.refreshedAt = Date.now();
      const names = new Set(
        readdirSync(dir)
          .filter((name) => name.endsWith('.idx'))
          .map((name) => name.slice(0, -'.idx'.length)),
      );
      for (const pack of packs.values()) {
        if (!names.has(pack.name) && !writtenHere(pack)) {
          index.forget(pack);
        }
      }
      for (const name of names) {
        const pack = packs.get(name) ?? index.newPack(name);
        packs.set(name, pack);
        index.readLog(pack);
      }
    },
  };

  const applyRecord = (pack: Pack, bytes: Buffer) => {
    const record = decodeRecord(bytes);
    switch (record?.kind) {
      case added:
        index.addPlace(pack, record.sha256, record.offset, record.size);
        break;
      case removed:
        index.dropPlace(pack, record.offset);
        break;
      case sealed:
        pack.sealed = true;
        break;
      case undefined:
        break; // Torn by a crash: the content it named was never reported stored.
    }
  };

  index.refresh();
  return index;
}

/** Places at most this far apart are read with one read, up to a run of `readRunBytes`. */
const readGapBytes = 64 * 1024;
const readRunBytes = 4 * 1024 * 1024;

/** Reads a place's bytes; undefined if its pack was compacted away meanwhile. */
export function readPlace(place: PackedPlace): Buffer | undefined {
  const { pack } = place;
  try {
    pack.readFd ??= openSync(pack.dataPath, 'r');
  } catch (error) {
    if (isMissing(error)) {
      return undefined;
    }
    throw error;
  }
  const content = Buffer.allocUnsafe(place.size);
  readFully(pack.readFd, content, place.offset);
  return content;
}

/** Reads several places, neighbours in a pack with one read; as `readPlace` each. */
export function readPlaces(wanted: readonly PackedPlace[]): (Buffer | undefined)[] {
  const results = new Array<Buffer | undefined>(wanted.length);
  const order = wanted
    .map((place, index) => ({ place, index }))
    .sort((a, b) =>
      a.place.pack === b.place.pack
        ? a.place.offset - b.place.offset
        : a.place.pack.name < b.place.pack.name
          ? -1
          : 1,
    );
  for (let first = 0; first < order.length;) {
    // A run of places close together in one pack, read as one range.
    const start = order[first]?.place;
    if (start === undefined) {
      break;
    }
    let last = first;
    let end = start.offset + start.size;
    for (;;) {
      const next = order[last + 1]?.place;
      if (
        next === undefined ||
        next.pack !== start.pack ||
        next.offset - end > readGapBytes ||
        next.offset + next.size - start.offset > readRunBytes
      ) {
        break;
      }
      end = Math.max(end, next.offset + next.size);
      last += 1;
    }
    const range = readPlace({ pack: start.pack, offset: start.offset, size: end - start.offset });
    for (const { place, index } of order.slice(first, last + 1)) {
      const at = place.offset - start.offset;
      results[index] = range?.subarray(at, at + place.size);
    }
    first = last + 1;
  }
  return results;
}
