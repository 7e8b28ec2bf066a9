import { sql } from 'kysely';
import type { Db } from '../../db/connect.ts';
import {
  columnNames,
  inSlices,
  longText,
  unnestRows,
  unnestTexts,
  type UnnestColumn,
} from '../../db/unnest.ts';
import { stanzaText } from '../../../debian/archive.ts';
import type { ChunkPrebuilder } from './chunk-prebuild.ts';
import { chunkSize, markChunks, type IndexIds } from './index.repository.ts';

/** Values per lookup statement. */
const lookupSlice = 10_000;

/** Rows per bulk insert: a statement of a few array parameters (see unnestRows). */
const bulkSlice = 20_000;

/** The pool files already at `paths`, with their content. */
export async function findPoolFiles(
  db: Db,
  repositoryId: number,
  paths: readonly string[],
): Promise<Map<string, string>> {
  const rows = await inSlices(paths, lookupSlice, (slice) =>
    db
      .selectFrom('apt_pool')
      .innerJoin(unnestTexts(slice, 'path'), 'wanted.path', 'apt_pool.path')
      .select(['apt_pool.path', 'apt_pool.sha256'])
      .where('repository_id', '=', repositoryId)
      .execute(),
  );
  return new Map(rows.map((row) => [row.path, row.sha256]));
}

/** Adds pool files at the paths the pool has nothing at yet; returns those paths. */
export async function insertPoolFiles(
  db: Db,
  rows: readonly {
    repository_id: number;
    path: string;
    sha256: string;
    size: number;
    artifact_id: number;
  }[],
): Promise<Set<string>> {
  const inserted = await inSlices(rows, bulkSlice, (slice) =>
    db
      .insertInto('apt_pool')
      .columns(columnNames(poolColumns))
      .expression(unnestRows(slice, poolColumns))
      .onConflict((oc) => oc.columns(['repository_id', 'path']).doNothing())
      .returning('path')
      .execute(),
  );
  return new Set(inserted.map((row) => row.path));
}

const poolColumns = [
  ['repository_id', 'bigint'],
  ['path', 'text'],
  ['sha256', 'text'],
  ['size', 'bigint'],
  ['artifact_id', 'bigint'],
] as const;

/** Existing binaries of a suite by `component/package/architecture`. */
export async function findBinaries(
  db: Db,
  suiteId: number,
  keys: readonly { component: string; package: string; architecture: string }[],
) {
  const names = [...new Set(keys.map((k) => k.package))];
  // The components too, so that the lookup walks the unique index
  // (suite_id, component, package, architecture) rather than the whole suite.
  const components = [...new Set(keys.map((k) => k.component))];
  const rows = await inSlices(names, lookupSlice, (slice) =>
    db
      .selectFrom('apt_binaries as b')
      .innerJoin(unnestTexts(slice, 'package'), 'wanted.package', 'b.package')
      .select(['b.id', 'b.component', 'b.package', 'b.architecture', 'b.version', 'b.pool_path'])
      .where('b.suite_id', '=', suiteId)
      .where('b.component', 'in', components)
      .execute(),
  );
  return new Map<string, { id: number; version: string; pool_path: string }>(
    rows.map((row) => [`${row.component}/${row.package}/${row.architecture}`, row]),
  );
}

export interface NewBinary {
  readonly suite_id: number;
  readonly component: string;
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
  readonly source: string;
  readonly source_version: string;
  readonly pool_path: string;
  /** Its Packages stanza: text, or its UTF-8 as a .deb reading thread hands it over (see deb-readers.ts). */
  readonly stanza: string | Uint8Array;
}

/** A binary to add, with the chunk a `ChunkCursor` gave it. */
interface ChunkedBinary extends NewBinary {
  readonly chunk: number;
}

/**
 * Adds binaries to one component of a suite, but not over a binary of the
 * same package and architecture it has (of whichever version): they fill its
 * last chunk, then new ones (`chunks`, when a change adds several slices:
 * see `createChunkCursor`), and the chunks of the indices listing them are
 * marked dirty. Returns the `package/architecture` of each one added; tells
 * `prebuilder`, if given, what went in which chunk.
 *
 * The insert and the marking are sent at once, and the prebuilder told what
 * the insert will add while PostgreSQL runs them (20,000 .debs: ~70 ms a
 * slice of 5,000 this thread spent after the insert, the database waiting);
 * a binary the insert leaves out (its package is there already) spoils the
 * chunk told, and a chunk marked for it is only rebuilt.
 */
export async function addBinaries(
  db: Db,
  indices: IndexIds,
  suiteId: number,
  component: string,
  binaries: readonly NewBinary[],
  options: {
    readonly prebuilder?: ChunkPrebuilder | undefined;
    readonly chunks?: ChunkCursor | undefined;
  } = {},
): Promise<Set<string>> {
  const { prebuilder } = options;
  const cursor = options.chunks ?? createChunkCursor('apt_binaries', suiteId, component);
  const { chunks, firstFree } = await cursor.take(db, binaries.length);
  const rows = binaries.map((row, i) => ({ ...row, chunk: chunks[i] ?? 0 }));
  const inserting = inSlices(rows, bulkSlice, (slice) =>
    db
      .insertInto('apt_binaries')
      .columns(columnNames(binaryColumns))
      .expression(unnestRows(slice, binaryColumns))
      .onConflict((oc) =>
        oc.columns(['suite_id', 'component', 'package', 'architecture']).doNothing(),
      )
      .returning(['package', 'architecture', 'version', 'chunk'])
      .execute(),
  );
  const marking = markChunks(
    db,
    indices,
    rows.map((b) => ({
      kind: 'packages',
      component,
      architecture: b.architecture,
      chunk: b.chunk,
    })),
  );
  // Awaited below; handled meanwhile, should telling the prebuilder throw.
  inserting.catch(() => undefined);
  marking.catch(() => undefined);
  // The first row of a key is the one the insert adds, unless the suite has its key.
  const told = new Map<string, ChunkedBinary>();
  for (const row of rows) {
    const key = `${row.package}/${row.architecture}`;
    if (!told.has(key)) {
      told.set(key, row);
    }
  }
  prebuilder?.added([...told.values()], firstFree, chunks.at(-1) ?? firstFree);
  const [inserted] = await Promise.all([inserting, marking]);
  const added = new Set<string>();
  for (const row of inserted) {
    const key = `${row.package}/${row.architecture}`;
    const expected = told.get(key);
    if (expected?.version === row.version && expected.chunk === row.chunk) {
      told.delete(key);
    }
    added.add(key);
  }
  for (const left of told.values()) {
    prebuilder?.spoil(left.chunk);
  }
  return added;
}

const binaryColumns = [
  ['suite_id', 'bigint'],
  ['component', 'text'],
  ['package', 'text'],
  ['version', 'text'],
  ['architecture', 'text'],
  ['source', 'text'],
  ['source_version', 'text'],
  ['pool_path', 'text'],
  ['stanza', longText],
  ['chunk', 'int'],
] as const satisfies readonly UnnestColumn<ChunkedBinary>[];

/** Gives the chunks of the entries a change adds to a suite's component, slice after slice. */
export interface ChunkCursor {
  /** Chunk numbers for the next `count` entries in order, and the first chunk that had none before the change. */
  take(db: Db, count: number): Promise<{ chunks: number[]; firstFree: number }>;
}

/**
 * The chunks for entries added to a suite's component: its last chunk filled
 * up first, then new ones. The database is asked where the last chunk is
 * once; later slices go on from there. Changes that add entries hold the
 * repository (`holdForChange`), so no other fills the same chunks meanwhile;
 * if one did, the chunk would only be rebuilt the larger. An entry a slice
 * did not add after all (its package was there) leaves its place empty.
 */
export function createChunkCursor(
  table: 'apt_binaries' | 'apt_sources',
  suiteId: number,
  component: string,
): ChunkCursor {
  let next: { chunk: number; room: number; firstFree: number } | undefined;
  return {
    async take(db, count) {
      if (count === 0) {
        return { chunks: [], firstFree: next?.firstFree ?? 0 };
      }
      if (next === undefined) {
        // The last chunk by walking the chunk index down from its end: written
        // as max(chunk), it was planned on statistics from when the suite was
        // small and counted every entry (20,000: 30 ms of each +1 include).
        const { rows } = await sql<{ chunk: number; entries: number }>`
          select last.chunk, (select count(*)::int from ${sql.table(table)} t
                              where t.suite_id = ${suiteId} and t.component = ${component}
                                and t.chunk = last.chunk) as entries
          from (select chunk from ${sql.table(table)}
                where suite_id = ${suiteId} and component = ${component}
                order by chunk desc limit 1) as last`.execute(db);
        const [last] = rows;
        next = {
          chunk: last?.chunk ?? 0,
          room: chunkSize - (last?.entries ?? 0),
          firstFree: last === undefined ? 0 : last.chunk + 1,
        };
      }
      const chunks: number[] = [];
      for (let i = 0; i < count; i += 1) {
        if (next.room <= 0) {
          next.chunk += 1;
          next.room = chunkSize;
        }
        chunks.push(next.chunk);
        next.room -= 1;
      }
      return { chunks, firstFree: next.firstFree };
    },
  };
}

/**
 * Replaces a binary's version in place; its chunks are rebuilt at the next
 * publication. Returns the chunk it is in.
 */
export async function replaceBinary(
  db: Db,
  indices: IndexIds,
  id: number,
  row: NewBinary,
): Promise<number> {
  const { chunk } = await db
    .updateTable('apt_binaries')
    .set({ ...row, stanza: stanzaText(row.stanza) })
    .where('id', '=', id)
    .returning('chunk')
    .executeTakeFirstOrThrow();
  await markChunks(db, indices, [{ kind: 'packages', ...row, chunk }]);
  return chunk;
}

export async function findSource(db: Db, suiteId: number, component: string, name: string) {
  return db
    .selectFrom('apt_sources')
    .select(['id', 'version', 'pool_paths'])
    .where('suite_id', '=', suiteId)
    .where('component', '=', component)
    .where('package', '=', name)
    .executeTakeFirst();
}

export async function insertSource(
  db: Db,
  row: {
    suite_id: number;
    component: string;
    package: string;
    version: string;
    pool_paths: string[];
    stanza: string;
  },
  indices: IndexIds,
): Promise<void> {
  const {
    chunks: [chunk = 0],
  } = await createChunkCursor('apt_sources', row.suite_id, row.component).take(db, 1);
  await db
    .insertInto('apt_sources')
    .values({ ...row, chunk })
    .execute();
  await markChunks(db, indices, [
    { kind: 'sources', component: row.component, architecture: '', chunk },
  ]);
}

export async function replaceSource(
  db: Db,
  indices: IndexIds,
  id: number,
  row: { version: string; pool_paths: string[]; stanza: string },
): Promise<void> {
  const replaced = await db
    .updateTable('apt_sources')
    .set(row)
    .where('id', '=', id)
    .returning(['component', 'chunk'])
    .executeTakeFirstOrThrow();
  await markChunks(db, indices, [{ kind: 'sources', architecture: '', ...replaced }]);
}

/** Removes binaries, marking the chunks that listed them dirty. */
export async function deleteBinaries(
  db: Db,
  indices: IndexIds,
  ids: readonly number[],
): Promise<void> {
  for (let i = 0; i < ids.length; i += lookupSlice) {
    const gone = await db
      .deleteFrom('apt_binaries')
      .where('id', '=', sql<number>`any(${ids.slice(i, i + lookupSlice)}::bigint[])`)
      .returning(['component', 'architecture', 'chunk'])
      .execute();
    await markChunks(
      db,
      indices,
      gone.map((b) => ({ kind: 'packages', ...b })),
    );
  }
}

export async function deleteSources(
  db: Db,
  indices: IndexIds,
  ids: readonly number[],
): Promise<void> {
  for (let i = 0; i < ids.length; i += lookupSlice) {
    const gone = await db
      .deleteFrom('apt_sources')
      .where('id', '=', sql<number>`any(${ids.slice(i, i + lookupSlice)}::bigint[])`)
      .returning(['component', 'chunk'])
      .execute();
    await markChunks(
      db,
      indices,
      gone.map((s) => ({ kind: 'sources', architecture: '', ...s })),
    );
  }
}
