/**
 * The Packages chunks an include fills with its own binaries, made (text and
 * gzip) while the include goes on, for the publication that follows it in the
 * same task: it then neither asks the database for their stanzas back nor
 * compresses them once the include is over.
 */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { sql } from 'kysely';
import type { Db } from '../../db/connect.ts';
import type { IndexIds } from './index.repository.ts';

const gzipAsync = promisify(gzip);

/** A chunk of an index as a publication lists it: its text and its gzip member. */
export interface MadeChunk {
  readonly text: Buffer;
  readonly gz: Buffer;
}

/**
 * Chunks made by an include, by `indexId/chunk`, each with the row version of
 * its chunk (`xmin`) when the include ended: a publication uses one only if
 * its chunk is still in that version, so that no change since is missed.
 */
export type PrebuiltChunks = ReadonlyMap<
  string,
  { readonly version: string; readonly made: Promise<MadeChunk> }
>;

export function prebuiltKey(indexId: number, chunk: number): string {
  return `${indexId}/${chunk}`;
}

/** A binary as added, with the chunk it went into. */
export interface AddedEntry {
  readonly package: string;
  readonly architecture: string;
  /** Text, or its UTF-8. */
  readonly stanza: string | Uint8Array;
  readonly chunk: number;
}

/** What an include tells its `ChunkPrebuilder` as it adds binaries to one component. */
export interface ChunkPrebuilder {
  /**
   * Binaries added in chunks the change assigned up to `lastAssigned`;
   * `firstFree`: the first chunk the change gave entries that had none
   * before (told at the first call, ignored after).
   */
  added(entries: readonly AddedEntry[], firstFree: number, lastAssigned: number): void;
  /** A chunk whose entries changed after they were added: it is made from the database. */
  spoil(chunk: number): void;
  /** Makes the chunks still open and returns them all, with their versions now (in `db`'s transaction). */
  finish(db: Db): Promise<PrebuiltChunks>;
}

/** ASCII, whose order as strings is its order as UTF-8 bytes (`collate "C"`). */
const ascii = /^[\x21-\x7e]*$/;

/**
 * A prebuilder for `component` of a suite whose indices are `indices`. Only
 * chunks wholly the include's own are made: those it started.
 */
export function createChunkPrebuilder(component: string, indices: IndexIds): ChunkPrebuilder {
  const prefix = `packages/${component}/`;
  const packageIndices = [...indices]
    .filter(([name]) => name.startsWith(prefix))
    .map(([name, id]) => ({ id, architecture: name.slice(prefix.length) }));
  let first: number | undefined;
  const open = new Map<number, AddedEntry[]>();
  const made = new Map<number, Map<number, Promise<MadeChunk>>>();
  const spoiled = new Set<number>();

  const make = (chunk: number, entries: readonly AddedEntry[]) => {
    if (spoiled.has(chunk) || entries.some((e) => !ascii.test(e.package + e.architecture))) {
      spoiled.add(chunk);
      return;
    }
    const sorted = [...entries].sort((a, b) =>
      a.package === b.package
        ? compare(a.architecture, b.architecture)
        : compare(a.package, b.package),
    );
    const byIndex = new Map<number, Promise<MadeChunk>>();
    for (const index of packageIndices) {
      const listed = sorted.filter(
        (e) => e.architecture === index.architecture || e.architecture === 'all',
      );
      if (listed.length === 0) {
        continue;
      }
      // As listChunkTexts has the database join them: each stanza and a blank line.
      const text = Buffer.concat(
        listed.flatMap((e) => [
          typeof e.stanza === 'string' ? Buffer.from(e.stanza) : e.stanza,
          blankLine,
        ]),
      );
      const chunkMade = gzipAsync(text, { level: 6 }).then((gz) => ({ text, gz }));
      // Awaited by the publication, if it uses it; handled meanwhile.
      chunkMade.catch(() => undefined);
      byIndex.set(index.id, chunkMade);
    }
    made.set(chunk, byIndex);
  };

  return {
    added(entries, firstFree, lastAssigned) {
      first ??= firstFree;
      for (const entry of entries) {
        if (entry.chunk >= first && !spoiled.has(entry.chunk)) {
          const list = open.get(entry.chunk) ?? [];
          list.push(entry);
          open.set(entry.chunk, list);
        }
      }
      // Chunks before the last one assigned are full: no later entry goes in them.
      for (const [chunk, list] of open) {
        if (chunk < lastAssigned) {
          open.delete(chunk);
          make(chunk, list);
        }
      }
    },
    spoil(chunk) {
      spoiled.add(chunk);
      open.delete(chunk);
      made.delete(chunk);
    },
    async finish(db) {
      for (const [chunk, list] of open) {
        make(chunk, list);
      }
      open.clear();
      const prebuilt = new Map<string, { version: string; made: Promise<MadeChunk> }>();
      const chunks = [...made.keys()];
      if (chunks.length === 0) {
        return prebuilt;
      }
      const { rows } = await sql<{ index_id: number; chunk: number; version: string }>`
        select index_id, chunk, xmin::text as version from apt_index_chunks
        where index_id = any(${packageIndices.map((i) => i.id)}::bigint[])
          and chunk = any(${chunks}::int[])`.execute(db);
      for (const row of rows) {
        const chunkMade = made.get(row.chunk)?.get(row.index_id);
        if (chunkMade !== undefined) {
          prebuilt.set(prebuiltKey(row.index_id, row.chunk), {
            version: row.version,
            made: chunkMade,
          });
        }
      }
      return prebuilt;
    },
  };
}

const blankLine = Buffer.from('\n');

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
