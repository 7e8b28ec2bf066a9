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
import type { AddedEntry, ChunkPrebuilder } from './chunk-prebuild.ts';
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
  readonly stanza: string;
}

/** A binary to add, with the chunk `nextChunks` gave it. */
interface ChunkedBinary extends NewBinary {
  readonly chunk: number;
}

/**
 * Adds binaries to one component of a suite, but not over a binary of the
 * same package and architecture it has (of whichever version): they fill its
 * last chunk, then new ones, and the chunks of the indices listing them are
 * marked dirty. Returns the `package/architecture` of each one added; tells
 * `prebuilder`, if given, what went in which chunk.
 */
export async function addBinaries(
  db: Db,
  indices: IndexIds,
  suiteId: number,
  component: string,
  binaries: readonly NewBinary[],
  prebuilder?: ChunkPrebuilder,
): Promise<Set<string>> {
  const { chunks, firstFree } = await nextChunks(
    db,
    'apt_binaries',
    suiteId,
    component,
    binaries.length,
  );
  const inserted = await inSlices(
    binaries.map((row, i) => ({ ...row, chunk: chunks[i] ?? 0 })),
    bulkSlice,
    (slice) =>
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
  await markChunks(
    db,
    indices,
    inserted.map((b) => ({
      kind: 'packages',
      component,
      architecture: b.architecture,
      chunk: b.chunk,
    })),
  );
  if (prebuilder !== undefined) {
    tellPrebuilder(prebuilder, binaries, inserted, firstFree, chunks.at(-1) ?? firstFree);
  }
  return new Set(inserted.map((b) => `${b.package}/${b.architecture}`));
}

/** Tells a prebuilder the stanzas that went into each chunk (the first row of a key is the one added). */
function tellPrebuilder(
  prebuilder: ChunkPrebuilder,
  binaries: readonly NewBinary[],
  inserted: readonly { package: string; architecture: string; version: string; chunk: number }[],
  firstFree: number,
  lastAssigned: number,
): void {
  const byKey = new Map<string, NewBinary>();
  for (const binary of binaries) {
    const key = `${binary.package}/${binary.architecture}`;
    if (!byKey.has(key)) {
      byKey.set(key, binary);
    }
  }
  const entries: AddedEntry[] = [];
  for (const row of inserted) {
    const binary = byKey.get(`${row.package}/${row.architecture}`);
    if (binary?.version !== row.version) {
      prebuilder.spoil(row.chunk);
      continue;
    }
    entries.push({ ...row, stanza: binary.stanza });
  }
  prebuilder.added(entries, firstFree, lastAssigned);
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

/**
 * Chunk numbers for `count` entries added to a suite's component, in order:
 * its last chunk filled up first, then new ones. Changes that add entries hold
 * the repository (`holdForChange`), so no other fills the same chunk meanwhile;
 * if one did, the chunk would only be rebuilt the larger.
 */
async function nextChunks(
  db: Db,
  table: 'apt_binaries' | 'apt_sources',
  suiteId: number,
  component: string,
  count: number,
): Promise<{ chunks: number[]; firstFree: number }> {
  if (count === 0) {
    return { chunks: [], firstFree: 0 };
  }
  // The last chunk by walking the chunk index down from its end: written as
  // max(chunk), it was planned on statistics from when the suite was small
  // and counted every entry (20,000: 30 ms of each +1 include).
  const { rows } = await sql<{ chunk: number; entries: number }>`
    select last.chunk, (select count(*)::int from ${sql.table(table)} t
                        where t.suite_id = ${suiteId} and t.component = ${component}
                          and t.chunk = last.chunk) as entries
    from (select chunk from ${sql.table(table)}
          where suite_id = ${suiteId} and component = ${component}
          order by chunk desc limit 1) as last`.execute(db);
  let chunk = rows[0]?.chunk ?? 0;
  let room = chunkSize - (rows[0]?.entries ?? 0);
  const chunks: number[] = [];
  for (let i = 0; i < count; i += 1) {
    if (room <= 0) {
      chunk += 1;
      room = chunkSize;
    }
    chunks.push(chunk);
    room -= 1;
  }
  // The first chunk that had no entries before this change.
  return { chunks, firstFree: rows[0] === undefined ? 0 : rows[0].chunk + 1 };
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
    .set(row)
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
  } = await nextChunks(db, 'apt_sources', row.suite_id, row.component, 1);
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
