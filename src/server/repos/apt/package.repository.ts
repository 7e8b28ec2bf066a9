import { sql } from 'kysely';
import type { Db } from '../../db/connect.ts';
import { columnNames, unnestRows, type UnnestColumn } from '../../db/unnest.ts';

/** Values per lookup statement. */
const lookupSlice = 10_000;

/**
 * `(select unnest($1::text[]) as column) as wanted`: values to look up as one
 * array parameter, joined, rather than a list `column in ($1, $2, ...)` bound
 * and compared one by one. Planned for each run (the include transaction sets
 * `plan_cache_mode`), PostgreSQL knows how many values there are and hashes
 * them or walks the index; a plan kept after five runs walked the whole suite
 * for each value (see `ingestPackages`).
 */
function unnestTexts<C extends string>(values: readonly string[], column: C) {
  return sql<Record<C, string>>`(select unnest(${values}::text[]) as ${sql.ref(column)})`.as(
    'wanted',
  );
}

/**
 * Runs `statement` over `values` a slice at a time (a statement takes at most
 * 65,535 parameters) and gathers what each returns, in order.
 */
async function inSlices<V, R>(
  values: readonly V[],
  size: number,
  statement: (slice: V[]) => Promise<readonly R[]>,
): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < values.length; i += size) {
    results.push(...(await statement(values.slice(i, i + size))));
  }
  return results;
}

/** Rows per bulk insert: a statement of a few array parameters (see unnestRows). */
const bulkSlice = 20_000;

const entryColumns = [
  ['index_id', 'bigint'],
  ['binary_id', 'bigint'],
  ['source_id', 'bigint'],
  ['chunk', 'int'],
] as const;

/** Entries per chunk: a change rebuilds one chunk of this many stanzas at most. */
export const chunkSize = 256;

export interface IndexKey {
  readonly component: string;
  readonly kind: 'packages' | 'sources';
  readonly architecture: string;
}

/** The indices of a suite (creating missing ones), keyed `kind/component/architecture`. */
export async function ensureIndices(
  db: Db,
  suiteId: number,
  keys: readonly IndexKey[],
): Promise<Map<string, number>> {
  if (keys.length > 0) {
    await db
      .insertInto('apt_indices')
      .values(keys.map((k) => ({ suite_id: suiteId, ...k })))
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  const rows = await db
    .selectFrom('apt_indices')
    .selectAll()
    .where('suite_id', '=', suiteId)
    .execute();
  return new Map(rows.map((r) => [indexName(r), r.id]));
}

export function indexName(key: IndexKey): string {
  return `${key.kind}/${key.component}/${key.architecture}`;
}

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

export async function insertPoolFiles(
  db: Db,
  rows: readonly {
    repository_id: number;
    path: string;
    sha256: string;
    size: number;
    artifact_id: number;
  }[],
): Promise<void> {
  await inSlices(rows, bulkSlice, (slice) =>
    db
      .insertInto('apt_pool')
      .columns(columnNames(poolColumns))
      .expression(unnestRows(slice, poolColumns))
      .onConflict((oc) => oc.columns(['repository_id', 'path']).doNothing())
      .execute(),
  );
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

export async function insertBinaries(
  db: Db,
  rows: readonly NewBinary[],
): Promise<{ id: number; architecture: string; component: string }[]> {
  // Returned in the order given: PostgreSQL inserts (and returns) the rows of
  // `insert ... select` in the order the select yields them.
  return inSlices(rows, bulkSlice, (slice) =>
    db
      .insertInto('apt_binaries')
      .columns(columnNames(binaryColumns))
      .expression(unnestRows(slice, binaryColumns))
      .returning(['id', 'architecture', 'component'])
      .execute(),
  );
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
  ['stanza', 'text'],
] as const satisfies readonly UnnestColumn<NewBinary>[];

/** Replaces a binary's version in place; its chunks are rebuilt at the next publication. */
export async function replaceBinary(db: Db, id: number, row: NewBinary): Promise<void> {
  await db.updateTable('apt_binaries').set(row).where('id', '=', id).execute();
  await markChunksOf(db, 'binary_id', [id]);
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
): Promise<number> {
  const inserted = await db
    .insertInto('apt_sources')
    .values(row)
    .returning('id')
    .executeTakeFirstOrThrow();
  return inserted.id;
}

export async function replaceSource(
  db: Db,
  id: number,
  row: { version: string; pool_paths: string[]; stanza: string },
): Promise<void> {
  await db.updateTable('apt_sources').set(row).where('id', '=', id).execute();
  await markChunksOf(db, 'source_id', [id]);
}

/** Marks dirty the chunks that hold these entries. */
export async function markChunksOf(
  db: Db,
  column: 'binary_id' | 'source_id',
  ids: readonly number[],
): Promise<void> {
  if (ids.length === 0) {
    return;
  }
  await db
    .updateTable('apt_index_chunks')
    .set({ dirty: true })
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('apt_index_entries as e')
          .select('e.chunk')
          .whereRef('e.index_id', '=', 'apt_index_chunks.index_id')
          .whereRef('e.chunk', '=', 'apt_index_chunks.chunk')
          .where(`e.${column}`, 'in', [...ids]),
      ),
    )
    .execute();
}

/**
 * Adds entries to an index, filling its last chunk and opening new ones, and
 * marks the chunks they land in dirty.
 */
export async function addIndexEntries(
  db: Db,
  indexId: number,
  column: 'binary_id' | 'source_id',
  ids: readonly number[],
): Promise<void> {
  if (ids.length === 0) {
    return;
  }
  const last = await db
    .selectFrom('apt_index_chunks')
    .select(['chunk', 'entries'])
    .where('index_id', '=', indexId)
    .orderBy('chunk', 'desc')
    .limit(1)
    .executeTakeFirst();
  let chunk = last?.chunk ?? 0;
  let room = last === undefined ? chunkSize : chunkSize - last.entries;
  if (room <= 0) {
    chunk += 1;
    room = chunkSize;
  }
  const entries: {
    index_id: number;
    binary_id: number | null;
    source_id: number | null;
    chunk: number;
  }[] = [];
  const counts = new Map<number, number>();
  for (const id of ids) {
    if (room === 0) {
      chunk += 1;
      room = chunkSize;
    }
    entries.push({
      index_id: indexId,
      binary_id: column === 'binary_id' ? id : null,
      source_id: column === 'source_id' ? id : null,
      chunk,
    });
    counts.set(chunk, (counts.get(chunk) ?? 0) + 1);
    room -= 1;
  }
  await inSlices(entries, bulkSlice, (slice) =>
    db
      .insertInto('apt_index_entries')
      .columns(columnNames(entryColumns))
      .expression(unnestRows(slice, entryColumns))
      .execute(),
  );
  await db
    .insertInto('apt_index_chunks')
    .values([...counts].map(([c, n]) => ({ index_id: indexId, chunk: c, entries: n, dirty: true })))
    .onConflict((oc) =>
      oc.columns(['index_id', 'chunk']).doUpdateSet((eb) => ({
        entries: sql<number>`${eb.ref('apt_index_chunks.entries')} + ${eb.ref('excluded.entries')}`,
        dirty: true,
      })),
    )
    .execute();
}

/** Removes binaries (and their index entries), marking their chunks dirty. */
export async function deleteBinaries(db: Db, ids: readonly number[]): Promise<void> {
  await removeEntries(db, 'binary_id', ids);
  if (ids.length > 0) {
    await db
      .deleteFrom('apt_binaries')
      .where('id', 'in', [...ids])
      .execute();
  }
}

export async function deleteSources(db: Db, ids: readonly number[]): Promise<void> {
  await removeEntries(db, 'source_id', ids);
  if (ids.length > 0) {
    await db
      .deleteFrom('apt_sources')
      .where('id', 'in', [...ids])
      .execute();
  }
}

async function removeEntries(
  db: Db,
  column: 'binary_id' | 'source_id',
  ids: readonly number[],
): Promise<void> {
  if (ids.length === 0) {
    return;
  }
  const gone = await db
    .deleteFrom('apt_index_entries')
    .where(column, 'in', [...ids])
    .returning(['index_id', 'chunk'])
    .execute();
  for (const { index_id, chunk } of gone) {
    await db
      .updateTable('apt_index_chunks')
      .set((eb) => ({ entries: eb('entries', '-', 1), dirty: true }))
      .where('index_id', '=', index_id)
      .where('chunk', '=', chunk)
      .execute();
  }
}

/** Chunks of a query for stanzas: a few hundred thousand bytes of rows at a time. */
const stanzaChunksPerQuery = 16;

/** The stanzas of some chunks of an index, by chunk, each chunk's ordered by package name. */
export async function listChunkStanzas(
  db: Db,
  indexId: number,
  chunks: readonly number[],
  kind: 'packages' | 'sources',
): Promise<Map<number, string[]>> {
  const rows = await inSlices(chunks, stanzaChunksPerQuery, (slice) =>
    kind === 'packages'
      ? db
          .selectFrom('apt_index_entries as e')
          .innerJoin('apt_binaries as b', 'b.id', 'e.binary_id')
          .select(['e.chunk', 'b.stanza'])
          .where('e.index_id', '=', indexId)
          .where('e.chunk', 'in', slice)
          .orderBy('e.chunk')
          .orderBy('b.package')
          .orderBy('b.architecture')
          .execute()
      : db
          .selectFrom('apt_index_entries as e')
          .innerJoin('apt_sources as s', 's.id', 'e.source_id')
          .select(['e.chunk', 's.stanza'])
          .where('e.index_id', '=', indexId)
          .where('e.chunk', 'in', slice)
          .orderBy('e.chunk')
          .orderBy('s.package')
          .execute(),
  );
  const stanzas = new Map<number, string[]>(chunks.map((chunk) => [chunk, []]));
  for (const row of rows) {
    stanzas.get(row.chunk)?.push(row.stanza);
  }
  return stanzas;
}

/**
 * The dirty chunks of a repository's indices, each with its row version
 * (PostgreSQL's `xmin`, new at every update): a digest that any change to
 * them changes, even to a chunk that was dirty already.
 */
export async function describeDirtyChunks(db: Db, repositoryId: number): Promise<string> {
  const { rows } = await sql<{ n: number; versions: string | null }>`
    select count(*)::int as n,
      md5(string_agg(c.index_id || '/' || c.chunk || '/' || c.xmin::text, ',' order by c.index_id, c.chunk)) as versions
    from apt_index_chunks c
      join apt_indices i on i.id = c.index_id
      join apt_suites s on s.id = i.suite_id
    where s.repository_id = ${repositoryId} and c.dirty`.execute(db);
  return `${rows[0]?.n ?? 0}:${rows[0]?.versions ?? ''}`;
}

/**
 * Saves a rebuilt chunk (removes it when it has no entries left), if it is
 * still in the `version` it was rebuilt from; returns whether it was.
 */
export async function saveChunk(
  db: Db,
  update: {
    readonly indexId: number;
    readonly chunk: number;
    readonly version: string;
    readonly files:
      { text_sha256: string; text_size: number; gz_sha256: string; gz_size: number } | undefined;
  },
): Promise<boolean> {
  const result =
    update.files === undefined
      ? await db
          .deleteFrom('apt_index_chunks')
          .where('index_id', '=', update.indexId)
          .where('chunk', '=', update.chunk)
          .where(sql<string>`xmin::text`, '=', update.version)
          .executeTakeFirst()
      : await db
          .updateTable('apt_index_chunks')
          .set({ ...update.files, dirty: false })
          .where('index_id', '=', update.indexId)
          .where('chunk', '=', update.chunk)
          .where(sql<string>`xmin::text`, '=', update.version)
          .executeTakeFirst();
  const changed = 'numDeletedRows' in result ? result.numDeletedRows : result.numUpdatedRows;
  return changed > 0n;
}

/** The chunks of indices, each with its row version (see `saveChunk`). */
export function listChunks(db: Db, indexIds: readonly number[]) {
  if (indexIds.length === 0) {
    return Promise.resolve([]);
  }
  return db
    .selectFrom('apt_index_chunks')
    .selectAll()
    .select(sql<string>`xmin::text`.as('version'))
    .where('index_id', 'in', [...indexIds])
    .orderBy('index_id')
    .orderBy('chunk')
    .execute();
}
