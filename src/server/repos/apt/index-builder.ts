import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip, gzipSync } from 'node:zlib';
import type { Db } from '../../db/connect.ts';
import type { FileStore, StagedFile } from '../../files/file-store.ts';
import { updateHashState, type HashState, type IndexHashCache } from './index-hashes.ts';
import {
  ensureIndices,
  indexKeys,
  indexName,
  listChunks,
  listChunkTexts,
  type SavedChunk,
  type IndexRow,
} from './index.repository.ts';
import { prebuiltKey, type MadeChunk, type PrebuiltChunks } from './chunk-prebuild.ts';
import type { IndexFile } from './release.ts';
import type { SuiteRow } from './repository.repository.ts';

export interface IndexBuilderDeps {
  readonly store: FileStore;
  readonly indexHashes: IndexHashCache;
}

/** A published file as the previous publication recorded it, by path under dists/. */
export type PreviousFiles = ReadonlyMap<
  string,
  { sha256: string; sha512: string | null; size: number; parts: readonly string[] | null }
>;

/** A rebuilt chunk: its new content, or undefined when it has no entries left. */
export type ChunkUpdate = SavedChunk;

/** A suite's index files, and what must be recorded with the publication that lists them. */
export interface SuiteIndices {
  /** Relative to dists/<codename>/. */
  readonly files: IndexFile[];
  readonly chunks: ChunkUpdate[];
  /** Content staged (not yet in the store): committed with the publication, discarded after. */
  readonly staged: StagedFile[];
}

interface IndexRef extends IndexRow {
  /** `main/binary-amd64/Packages`, `main/source/Sources`. */
  readonly path: string;
}

const emptyGzip = gzipSync(Buffer.alloc(0));
const gzipAsync = promisify(gzip);
const emptyGzipSha512 = createHash('sha512').update(emptyGzip).digest('hex');

/**
 * The index files of a suite, changing nothing: rebuilds the chunks its
 * changes made dirty (staged, in memory only while hashed), then describes
 * each index whose chunks are not the ones the previous publication's file
 * was made of (its `parts`); an unchanged index keeps that file. An index is
 * not stored again whole: it is its chunks, concatenated when served, so a
 * change costs one chunk and hashing the index from the first changed chunk
 * (from the last one, for an index a package was added to, when the hash
 * state before it is cached).
 */
export async function buildSuiteIndices(
  deps: IndexBuilderDeps,
  db: Db,
  suite: SuiteRow,
  previous: PreviousFiles,
  prebuilt: PrebuiltChunks = new Map(),
): Promise<SuiteIndices> {
  const result: SuiteIndices = { files: [], chunks: [], staged: [] };
  try {
    const indices = await wantedIndices(db, suite);
    const chunks = await listChunks(
      db,
      indices.map((i) => i.id),
    );
    const dirty = indices.map((index) =>
      chunks.filter(
        (c) =>
          c.index_id === index.id && (c.dirty || c.text_sha256 === null || c.gz_sha256 === null),
      ),
    );
    // Chunks an include made for this publication, if nothing changed them since.
    const madeBefore = (chunk: ChunkRow) => {
      const made = prebuilt.get(prebuiltKey(chunk.index_id, chunk.chunk));
      return made?.version === chunk.version ? made.made : undefined;
    };
    // Each index's other chunks asked for while the one before is built: the
    // database makes them while this thread compresses and hashes.
    const texts: ReadonlyMap<number, Promise<string | undefined>>[] = [];
    const ask = (i: number) => {
      const index = indices[i];
      if (index !== undefined && texts[i] === undefined) {
        texts[i] = listChunkTexts(
          db,
          index,
          (dirty[i] ?? []).filter((c) => madeBefore(c) === undefined).map((c) => c.chunk),
        );
      }
    };
    for (const [i, index] of indices.entries()) {
      ask(i);
      ask(i + 1);
      await buildIndex(
        deps,
        index,
        chunks.filter((c) => c.index_id === index.id),
        { dirty: dirty[i] ?? [], texts: texts[i] ?? new Map(), madeBefore },
        (path) => previous.get(`dists/${suite.codename}/${path}`),
        result,
      );
    }
    return result;
  } catch (error) {
    await Promise.all(result.staged.map((f) => f.discard()));
    throw error;
  }
}

async function wantedIndices(db: Db, suite: SuiteRow): Promise<IndexRef[]> {
  const keys = indexKeys(suite.components, suite.architectures);
  const ids = await ensureIndices(db, suite.id, keys);
  return keys.flatMap((key) => {
    const id = ids.get(indexName(key));
    const path =
      key.kind === 'packages'
        ? `${key.component}/binary-${key.architecture}/Packages`
        : `${key.component}/source/Sources`;
    return id === undefined ? [] : [{ ...key, id, suite_id: suite.id, path }];
  });
}

type ChunkRow = Awaited<ReturnType<typeof listChunks>>[number];

/** One index: its dirty chunks rebuilt, its plain and .gz files described. */
async function buildIndex(
  deps: IndexBuilderDeps,
  index: IndexRef,
  chunks: readonly ChunkRow[],
  rebuilt: {
    readonly dirty: readonly ChunkRow[];
    readonly texts: ReadonlyMap<number, Promise<string | undefined>>;
    readonly madeBefore: (chunk: ChunkRow) => Promise<MadeChunk> | undefined;
  },
  previous: (path: string) => ReturnType<PreviousFiles['get']>,
  result: SuiteIndices,
): Promise<void> {
  const { dirty, texts, madeBefore } = rebuilt;
  // Content made here is not in the store until the publication commits: hashed from memory.
  const fresh = new Map<string, Buffer>();
  const stage = async (content: Buffer) => {
    const staged = await deps.store.stage(content, {
      maxSize: content.length,
      deferSync: true,
    });
    result.staged.push(staged);
    fresh.set(staged.sha256, content);
    return staged;
  };
  // The dirty chunks' texts, each compressed on libuv's threads as soon as
  // the database has made it, while the ones before it are stored.
  const made = new Map<number, Promise<MadeChunk | undefined>>();
  for (const chunk of dirty) {
    const before = madeBefore(chunk);
    if (before !== undefined) {
      made.set(chunk.chunk, before);
      continue;
    }
    const own = (texts.get(chunk.chunk) ?? Promise.resolve(undefined)).then(async (string) => {
      if (string === undefined) {
        return undefined;
      }
      const text = Buffer.from(string, 'utf8');
      return { text, gz: await gzipAsync(text, { level: 6 }) };
    });
    // Awaited in order below; handled meanwhile, should an earlier one fail.
    own.catch(() => undefined);
    made.set(chunk.chunk, own);
  }
  const textParts: string[] = [];
  const gzParts: string[] = [];
  for (const chunk of chunks) {
    let parts = { text: chunk.text_sha256 ?? '', gz: chunk.gz_sha256 ?? '' };
    if (dirty.includes(chunk)) {
      const own = await made.get(chunk.chunk);
      if (own === undefined) {
        result.chunks.push({
          indexId: index.id,
          chunk: chunk.chunk,
          version: chunk.version,
          files: undefined,
        });
        continue;
      }
      const [plain, gz] = await Promise.all([stage(own.text), stage(own.gz)]);
      result.chunks.push({
        indexId: index.id,
        chunk: chunk.chunk,
        version: chunk.version,
        files: {
          text_sha256: plain.sha256,
          text_size: plain.size,
          gz_sha256: gz.sha256,
          gz_size: gz.size,
        },
      });
      parts = { text: plain.sha256, gz: gz.sha256 };
    }
    textParts.push(parts.text);
    gzParts.push(parts.gz);
  }
  const gzPath = `${index.path}.gz`;
  const before = { plain: previous(index.path), gz: previous(gzPath) };
  if (textParts.length === 0) {
    // No entries: an empty file, and an empty .gz stored whole (no parts).
    const plain = { path: index.path, ...(await describe(deps, [], fresh)) };
    const gz = await stage(emptyGzip);
    result.files.push(plain, {
      path: gzPath,
      sha256: gz.sha256,
      sha512: emptyGzipSha512,
      size: gz.size,
      parts: null,
    });
    return;
  }
  for (const [path, parts, was] of [
    [index.path, textParts, before.plain],
    [gzPath, gzParts, before.gz],
  ] as const) {
    // gzip allows concatenated members (RFC 1952 §2.2): the .gz is the chunks' members in order.
    result.files.push(
      sameParts(was?.parts, parts) && was !== undefined && was.sha512 !== null
        ? { path, sha256: was.sha256, sha512: was.sha512, size: was.size, parts }
        : { path, ...(await describe(deps, parts, fresh)) },
    );
  }
}

function sameParts(before: readonly string[] | null | undefined, now: readonly string[]): boolean {
  return before != null && before.length === now.length && before.every((p, i) => p === now[i]);
}

/** Parts read ahead from the store while the ones before them are hashed. */
const readAhead = 16;

/**
 * The sha256, sha512 and size of parts concatenated, going on from the longest
 * prefix whose hash state is cached; remembers the states before the last
 * part and after it (what the next append needs).
 */
async function describe(
  deps: IndexBuilderDeps,
  parts: readonly string[],
  fresh: ReadonlyMap<string, Buffer>,
): Promise<{ sha256: string; sha512: string; size: number; parts: readonly string[] }> {
  const found = deps.indexHashes.find(parts, parts.length);
  let state: HashState = found.state;
  const read = async (sha256: string) => fresh.get(sha256) ?? deps.store.read(sha256);
  for (let i = found.length; i < parts.length; i += readAhead) {
    const slice = parts.slice(i, Math.min(i + readAhead, parts.length));
    const contents = await Promise.all(slice.map(read));
    for (const [j, content] of contents.entries()) {
      if (i + j === parts.length - 1) {
        deps.indexHashes.remember(parts.slice(0, -1), state);
      }
      state = updateHashState(state, content);
    }
  }
  if (parts.length > 0) {
    deps.indexHashes.remember(parts, state);
  }
  return {
    sha256: state.sha256.digest('hex'),
    sha512: state.sha512.digest('hex'),
    size: state.size,
    parts,
  };
}
