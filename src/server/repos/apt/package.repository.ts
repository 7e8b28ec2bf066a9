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

/** Entries per chunk: a change rebuilds one chunk of this many stanzas at most. */
export const chunkSize = 256;

export interface IndexKey {
  readonly component: string;
  readonly kind: 'packages' | 'sources';
  readonly architecture: string;
}

/** The keys of every index of these components: Packages per architecture, Sources. */
export function indexKeys(
  components: readonly string[],
  architectures: readonly string[],
): IndexKey[] {
  return components.flatMap((component) => [
    ...architectures.map((architecture) => ({
      component,
      kind: 'packages' as const,
      architecture,
    })),
    { component, kind: 'sources' as const, architecture: '' },
  ]);
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

/** A suite's indices by `indexName`, as `ensureIndices` returns them. */
export type IndexIds = ReadonlyMap<string, number>;

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

/** A binary to add, with the chunk `nextChunks` gave it. */
interface ChunkedBinary extends NewBinary {
  readonly chunk: number;
}

/**
 * Adds binaries to one component of a suite: they fill its last chunk, then
 * new ones, and the chunks of the indices listing them are marked dirty.
 */
export async function addBinaries(
  db: Db,
  indices: IndexIds,
  suiteId: number,
  component: string,
  binaries: readonly NewBinary[],
): Promise<void> {
  const chunks = await nextChunks(db, 'apt_binaries', suiteId, component, binaries.length);
  const rows = binaries.map((row, i) => ({ ...row, chunk: chunks[i] ?? 0 }));
  await inSlices(rows, bulkSlice, (slice) =>
    db
      .insertInto('apt_binaries')
      .columns(columnNames(binaryColumns))
      .expression(unnestRows(slice, binaryColumns))
      .execute(),
  );
  await markChunks(
    db,
    indices,
    rows.map((b) => ({
      kind: 'packages',
      component,
      architecture: b.architecture,
      chunk: b.chunk,
    })),
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
): Promise<number[]> {
  if (count === 0) {
    return [];
  }
  const { rows } = await sql<{ chunk: number; entries: number }>`
    select chunk, count(*)::int as entries from ${sql.table(table)}
    where suite_id = ${suiteId} and component = ${component}
      and chunk = (select max(chunk) from ${sql.table(table)}
                   where suite_id = ${suiteId} and component = ${component})
    group by chunk`.execute(db);
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
  return chunks;
}

/** Where an entry is listed: a binary in its architecture's Packages (every one's for `all`), a source in Sources. */
export interface ChunkEntry {
  readonly kind: 'packages' | 'sources';
  readonly component: string;
  /** The binary's; ignored for a source. */
  readonly architecture: string;
  readonly chunk: number;
}

/** Marks dirty (creating them) the chunks of a suite's indices that list these entries. */
export async function markChunks(
  db: Db,
  indices: IndexIds,
  entries: readonly ChunkEntry[],
): Promise<void> {
  const wanted = new Map<number, Set<number>>();
  const add = (indexId: number | undefined, chunk: number) => {
    if (indexId !== undefined) {
      wanted.set(indexId, (wanted.get(indexId) ?? new Set()).add(chunk));
    }
  };
  for (const entry of entries) {
    if (entry.kind === 'sources') {
      add(indices.get(`sources/${entry.component}/`), entry.chunk);
    } else if (entry.architecture === 'all') {
      const prefix = `packages/${entry.component}/`;
      for (const [name, indexId] of indices) {
        if (name.startsWith(prefix)) {
          add(indexId, entry.chunk);
        }
      }
    } else {
      add(indices.get(`packages/${entry.component}/${entry.architecture}`), entry.chunk);
    }
  }
  for (const [indexId, chunks] of wanted) {
    await markIndexChunks(db, indexId, [...chunks]);
  }
}

/**
 * Marks chunks of one index dirty, creating the missing ones. Every marked
 * row is updated, a dirty one too: its new row version tells a publisher
 * that read it before that it changed (see `describeDirtyChunks`).
 */
export async function markIndexChunks(
  db: Db,
  indexId: number,
  chunks: readonly number[],
): Promise<void> {
  if (chunks.length === 0) {
    return;
  }
  // In order, so that two changes marking the same chunks cannot wait on each other.
  const sorted = [...chunks].sort((a, b) => a - b);
  await db
    .insertInto('apt_index_chunks')
    .columns(['index_id', 'chunk', 'dirty'])
    .expression(sql`select ${indexId}::bigint, unnest(${sorted}::int[]), true`)
    .onConflict((oc) => oc.columns(['index_id', 'chunk']).doUpdateSet({ dirty: true }))
    .execute();
}

/** Replaces a binary's version in place; its chunks are rebuilt at the next publication. */
export async function replaceBinary(
  db: Db,
  indices: IndexIds,
  id: number,
  row: NewBinary,
): Promise<void> {
  const { chunk } = await db
    .updateTable('apt_binaries')
    .set(row)
    .where('id', '=', id)
    .returning('chunk')
    .executeTakeFirstOrThrow();
  await markChunks(db, indices, [{ kind: 'packages', ...row, chunk }]);
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
  const [chunk = 0] = await nextChunks(db, 'apt_sources', row.suite_id, row.component, 1);
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

/** Chunks of a query for stanzas: a few hundred thousand bytes of rows at a time. */
const stanzaChunksPerQuery = 16;

/** An index, as its stanzas are looked up. */
export interface IndexRow {
  readonly id: number;
  readonly suite_id: number;
  readonly component: string;
  readonly kind: 'packages' | 'sources';
  readonly architecture: string;
}

/**
 * The stanzas of some chunks of an index, by chunk, each chunk's ordered by
 * package name: a Packages index lists its architecture's binaries and the
 * `all` ones.
 */
export async function listChunkStanzas(
  db: Db,
  index: IndexRow,
  chunks: readonly number[],
): Promise<Map<number, string[]>> {
  const rows = await inSlices(chunks, stanzaChunksPerQuery, (slice) =>
    index.kind === 'packages'
      ? db
          .selectFrom('apt_binaries')
          .select(['chunk', 'stanza'])
          .where('suite_id', '=', index.suite_id)
          .where('component', '=', index.component)
          .where('chunk', 'in', slice)
          .where('architecture', 'in', [index.architecture, 'all'])
          .orderBy('chunk')
          .orderBy('package')
          .orderBy('architecture')
          .execute()
      : db
          .selectFrom('apt_sources')
          .select(['chunk', 'stanza'])
          .where('suite_id', '=', index.suite_id)
          .where('component', '=', index.component)
          .where('chunk', 'in', slice)
          .orderBy('chunk')
          .orderBy('package')
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
