/**
 * A suite's indices (Packages per component and architecture, Sources per
 * component) and their chunks: which are dirty, their stanzas, and the files
 * a publication rebuilt them into. Binaries and sources carry the chunk they
 * are listed in (see package.repository.ts).
 */
import { sql } from 'kysely';
import type { Db } from '../../db/connect.ts';

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
 * The text of some chunks of an index, each as its query answers: each
 * chunk's stanzas ordered by package name, each followed by a blank line so
 * that chunks concatenate into an index. A Packages index lists its
 * architecture's binaries and the `all` ones. A chunk with no stanzas left
 * is undefined. PostgreSQL joins each chunk's stanzas: one row a chunk
 * rather than one a package (20,000 stanzas: a third of the time, and no
 * string each here). The queries, a few chunks each, are all sent at once:
 * the caller compresses the first chunks while the database makes the next.
 */
export function listChunkTexts(
  db: Db,
  index: IndexRow,
  chunks: readonly number[],
): ReadonlyMap<number, Promise<string | undefined>> {
  // In the order of the names' bytes, whatever the database's collation:
  // as an include makes the chunks it fills (chunk-prebuild.ts).
  const joined = sql<string>`string_agg(stanza || ${'\n'}, '' order by package collate "C"${sql.raw(
    index.kind === 'packages' ? ', architecture collate "C"' : '',
  )})`.as('text');
  const texts = new Map<number, Promise<string | undefined>>();
  for (let i = 0; i < chunks.length; i += stanzaChunksPerQuery) {
    const slice = chunks.slice(i, i + stanzaChunksPerQuery);
    const rows = (
      index.kind === 'packages'
        ? db
            .selectFrom('apt_binaries')
            .select(['chunk', joined])
            .where('suite_id', '=', index.suite_id)
            .where('component', '=', index.component)
            .where('chunk', 'in', slice)
            .where('architecture', 'in', [index.architecture, 'all'])
            .groupBy('chunk')
            .execute()
        : db
            .selectFrom('apt_sources')
            .select(['chunk', joined])
            .where('suite_id', '=', index.suite_id)
            .where('component', '=', index.component)
            .where('chunk', 'in', slice)
            .groupBy('chunk')
            .execute()
    ).then((found) => new Map(found.map((row) => [row.chunk, row.text])));
    for (const chunk of slice) {
      const text = rows.then((found) => found.get(chunk));
      // Awaited in its turn; handled meanwhile, should an earlier chunk fail.
      text.catch(() => undefined);
      texts.set(chunk, text);
    }
  }
  return texts;
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

/** A rebuilt chunk: its new files, or none when it has no entries left. */
export interface SavedChunk {
  readonly indexId: number;
  readonly chunk: number;
  /** The row version it was rebuilt from (see `listChunks`). */
  readonly version: string;
  readonly files:
    { text_sha256: string; text_size: number; gz_sha256: string; gz_size: number } | undefined;
}

/**
 * Saves rebuilt chunks (removes those with no entries left), if every one is
 * still in the `version` it was rebuilt from; returns whether they all were
 * (if not, the caller rolls back). The rebuilt ones with one statement: a
 * large publication rebuilds hundreds.
 */
export async function saveChunks(db: Db, updates: readonly SavedChunk[]): Promise<boolean> {
  let saved = 0n;
  const rebuilt = updates.flatMap((u) => (u.files === undefined ? [] : [{ ...u, ...u.files }]));
  if (rebuilt.length > 0) {
    const column = <K extends keyof (typeof rebuilt)[number]>(key: K) => rebuilt.map((u) => u[key]);
    const result = await sql`
      update apt_index_chunks c
      set text_sha256 = u.text_sha256, text_size = u.text_size,
        gz_sha256 = u.gz_sha256, gz_size = u.gz_size, dirty = false
      from unnest(${column('indexId')}::bigint[], ${column('chunk')}::int[],
        ${column('version')}::text[], ${column('text_sha256')}::text[],
        ${column('text_size')}::bigint[], ${column('gz_sha256')}::text[],
        ${column('gz_size')}::bigint[])
        as u(index_id, chunk, version, text_sha256, text_size, gz_sha256, gz_size)
      where c.index_id = u.index_id and c.chunk = u.chunk and c.xmin::text = u.version`.execute(db);
    saved += result.numAffectedRows ?? 0n;
  }
  for (const gone of updates.filter((u) => u.files === undefined)) {
    const result = await db
      .deleteFrom('apt_index_chunks')
      .where('index_id', '=', gone.indexId)
      .where('chunk', '=', gone.chunk)
      .where(sql<string>`xmin::text`, '=', gone.version)
      .executeTakeFirst();
    saved += result.numDeletedRows;
  }
  return saved === BigInt(updates.length);
}

/** The chunks of indices, each with its row version (see `saveChunks`). */
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
