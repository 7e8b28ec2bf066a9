import { sql } from 'kysely';
import type { Db } from '../../db/connect.ts';

/** Values per lookup statement, well under PostgreSQL's 65,535 parameters. */
const lookupSlice = 10_000;

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
  if (paths.length === 0) {
    return new Map();
  }
  const found = new Map<string, string>();
  // In slices: a statement takes at most 65,535 parameters.
  for (let i = 0; i < paths.length; i += lookupSlice) {
    const rows = await db
      .selectFrom('apt_pool')
      .select(['path', 'sha256'])
      .where('repository_id', '=', repositoryId)
      .where('path', 'in', paths.slice(i, i + lookupSlice))
      .execute();
    for (const row of rows) {
      found.set(row.path, row.sha256);
    }
  }
  return found;
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
  for (let i = 0; i < rows.length; i += 1000) {
    await db
      .insertInto('apt_pool')
      .values(rows.slice(i, i + 1000))
      .onConflict((oc) => oc.columns(['repository_id', 'path']).doNothing())
      .execute();
  }
}

/** Existing binaries of a suite by `component/package/architecture`. */
export async function findBinaries(
  db: Db,
  suiteId: number,
  keys: readonly { component: string; package: string; architecture: string }[],
) {
  if (keys.length === 0) {
    return new Map<string, { id: number; version: string; pool_path: string }>();
  }
  const names = [...new Set(keys.map((k) => k.package))];
  const found = new Map<string, { id: number; version: string; pool_path: string }>();
  for (let i = 0; i < names.length; i += lookupSlice) {
    const rows = await db
      .selectFrom('apt_binaries')
      .select(['id', 'component', 'package', 'architecture', 'version', 'pool_path'])
      .where('suite_id', '=', suiteId)
      .where('package', 'in', names.slice(i, i + lookupSlice))
      .execute();
    for (const row of rows) {
      found.set(`${row.component}/${row.package}/${row.architecture}`, row);
    }
  }
  return found;
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
  const inserted: { id: number; architecture: string; component: string }[] = [];
  for (let i = 0; i < rows.length; i += 500) {
    inserted.push(
      ...(await db
        .insertInto('apt_binaries')
        .values(rows.slice(i, i + 500))
        .returning(['id', 'architecture', 'component'])
        .execute()),
    );
  }
  return inserted;
}

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
  for (let i = 0; i < entries.length; i += 1000) {
    await db
      .insertInto('apt_index_entries')
      .values(entries.slice(i, i + 1000))
      .execute();
  }
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

export function listDirtyChunks(db: Db, indexIds: readonly number[]) {
  if (indexIds.length === 0) {
    return Promise.resolve([]);
  }
  return db
    .selectFrom('apt_index_chunks')
    .selectAll()
    .where('index_id', 'in', [...indexIds])
    .where('dirty', '=', true)
    .orderBy('index_id')
    .orderBy('chunk')
    .execute();
}

/** The stanzas of a chunk, ordered by package name. */
export async function listChunkStanzas(
  db: Db,
  indexId: number,
  chunk: number,
  kind: 'packages' | 'sources',
): Promise<string[]> {
  const rows =
    kind === 'packages'
      ? await db
          .selectFrom('apt_index_entries as e')
          .innerJoin('apt_binaries as b', 'b.id', 'e.binary_id')
          .select(['b.stanza', 'b.package'])
          .where('e.index_id', '=', indexId)
          .where('e.chunk', '=', chunk)
          .orderBy('b.package')
          .orderBy('b.architecture')
          .execute()
      : await db
          .selectFrom('apt_index_entries as e')
          .innerJoin('apt_sources as s', 's.id', 'e.source_id')
          .select(['s.stanza', 's.package'])
          .where('e.index_id', '=', indexId)
          .where('e.chunk', '=', chunk)
          .orderBy('s.package')
          .execute();
  return rows.map((r) => r.stanza);
}

export async function saveChunk(
  db: Db,
  indexId: number,
  chunk: number,
  files: { text_sha256: string; text_size: number; gz_sha256: string; gz_size: number } | undefined,
): Promise<void> {
  if (files === undefined) {
    await db
      .deleteFrom('apt_index_chunks')
      .where('index_id', '=', indexId)
      .where('chunk', '=', chunk)
      .execute();
    return;
  }
  await db
    .updateTable('apt_index_chunks')
    .set({ ...files, dirty: false })
    .where('index_id', '=', indexId)
    .where('chunk', '=', chunk)
    .execute();
}

export function listChunks(db: Db, indexIds: readonly number[]) {
  if (indexIds.length === 0) {
    return Promise.resolve([]);
  }
  return db
    .selectFrom('apt_index_chunks')
    .selectAll()
    .where('index_id', 'in', [...indexIds])
    .orderBy('index_id')
    .orderBy('chunk')
    .execute();
}
