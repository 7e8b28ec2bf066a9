import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { sql } from 'kysely';
import { KilnError } from '../../../protocol/errors.ts';
import type { Db } from '../../db/connect.ts';
import type { FileStore } from '../../files/file-store.ts';
import { storeContent } from '../../files/stored-content.ts';
import type { Signer } from '../../signer/signer.ts';
import {
  ensureIndices,
  listChunks,
  listChunkStanzas,
  listDirtyChunks,
  saveChunk,
} from './package.repository.ts';
import { releaseText, type IndexFile } from './release.ts';
import {
  findRepositoryById,
  listRepositoryKeys,
  listSuites,
  type RepositoryRow,
  type SuiteRow,
} from './repository.repository.ts';

export interface PublisherDeps {
  readonly db: Db;
  readonly store: FileStore;
  readonly signer: Signer;
}

export interface PublishResult {
  readonly number: number;
  readonly files: number;
}

// Serialises publications of one repository across servers.
const publishLockSpace = 0x61707470;

/**
 * Publishes a repository: rebuilds the index chunks its changes made dirty,
 * writes every changed index file (plain and gzip), makes and signs each
 * suite's Release (InRelease and Release.gpg), and records an immutable,
 * numbered publication that becomes current in one transaction. A client
 * sees the old publication or the new one, never a mix: index files are
 * content-addressed and fetched by hash.
 *
 * Signing happens between two transactions, so that no transaction waits on
 * the signer (which may be remote, and on PGlite shares the one connection).
 * The second transaction records the publication only if nothing changed
 * the repository meanwhile; otherwise the publisher starts again.
 */
export async function publishRepository(
  deps: PublisherDeps,
  repositoryId: number,
  options: PublishOptions = {},
): Promise<PublishResult> {
  for (let attempt = 1; ; attempt++) {
    const prepared = await deps.db
      .transaction()
      .execute(async (db) => prepare(deps, db, repositoryId, options.from));
    const signed = await Promise.all(
      prepared.releases.map(async ({ base, release }) => ({
        base,
        files: {
          Release: release,
          InRelease: await deps.signer.clearsign(prepared.keyIds, release),
          'Release.gpg': await deps.signer.detachSign(prepared.keyIds, release),
        },
      })),
    );
    const recorded = await deps.db.transaction().execute(async (db) => {
      await lockRepository(db, repositoryId);
      if ((await stateOf(db, repositoryId)) !== prepared.state) {
        return undefined;
      }
      const files: PublishedFile[] = [...prepared.files];
      const stored: string[] = [];
      for (const { base, files: texts } of signed) {
        for (const [name, text] of Object.entries(texts)) {
          const content = await storeContent(db, deps.store, Buffer.from(text, 'utf8'), {
            deferSync: true,
          });
          stored.push(content.sha256);
          files.push({ path: `${base}/${name}`, ...content });
        }
      }
      // One sync for the files this publication stored, before it is recorded.
      await deps.store.sync(stored);
      return recordPublication(db, prepared.repository, files);
    });
    if (recorded !== undefined) {
      return recorded;
    }
    if (attempt === 5) {
      throw new KilnError('conflict', 'the repository kept changing while it was published');
    }
  }
}

/** Serialises publications (and rollbacks) of one repository across servers. */
export async function lockRepository(db: Db, repositoryId: number): Promise<void> {
  await sql`select pg_advisory_xact_lock(${publishLockSpace}, ${repositoryId}::int)`.execute(db);
}

export interface PublishOptions {
  /**
   * Publish the index files of this earlier publication instead of the
   * repository's contents (a rollback), with Release files signed afresh so
   * that apt, which refuses a Release older than the one it has, takes them.
   * The contents stay as they are: the next publication is made from them
   * (their chunks are not the parts the earlier files were made of).
   */
  readonly from?: number;
}

/** A file of a publication's dists/ tree: an index file, or a Release file (stored whole). */
type PublishedFile = IndexFile;

interface Prepared {
  readonly repository: RepositoryRow;
  readonly keyIds: readonly number[];
  readonly files: readonly PublishedFile[];
  readonly releases: readonly { base: string; release: string }[];
  readonly state: string;
}

/** The index files and the Release text of every suite, from the repository as it is now. */
async function prepare(
  deps: PublisherDeps,
  db: Db,
  repositoryId: number,
  from: number | undefined,
): Promise<Prepared> {
  await lockRepository(db, repositoryId);
  const repository = await findRepositoryById(db, repositoryId);
  if (repository === undefined) {
    throw new KilnError('not_found', `repository ${repositoryId} not found`);
  }
  const keyIds = (await listRepositoryKeys(db, repositoryId)).map((k) => k.key_id);
  if (keyIds.length === 0) {
    throw new KilnError('conflict', `repository ${repository.name} has no signing key`);
  }
  const previous = await previousFiles(db, repository);
  const earlier = from === undefined ? undefined : await publicationFiles(db, repository, from);
  const files: PublishedFile[] = [];
  const releases: { base: string; release: string }[] = [];
  const now = new Date();
  for (const suite of await listSuites(db, repositoryId)) {
    const base = `dists/${suite.codename}`;
    const indexFiles =
      earlier === undefined
        ? await publishSuiteIndices(deps, db, suite, previous)
        : indexFilesOf(earlier, base);
    if (indexFiles.length === 0) {
      continue; // A suite made after the earlier publication.
    }
    releases.push({ base, release: releaseText(repository, suite, indexFiles, now) });
    files.push(...indexFiles.map((f) => ({ ...f, path: `${base}/${f.path}` })));
  }
  return { repository, keyIds, files, releases, state: await stateOf(db, repositoryId) };
}

/**
 * What a publication is made from, in one string: the suites, the signing
 * keys, the current publication and whether any index chunk is dirty. Every
 * change to a repository changes it.
 */
async function stateOf(db: Db, repositoryId: number): Promise<string> {
  const [repository, suites, keys, dirty] = await Promise.all([
    findRepositoryById(db, repositoryId),
    listSuites(db, repositoryId),
    listRepositoryKeys(db, repositoryId),
    db
      .selectFrom('apt_index_chunks as c')
      .innerJoin('apt_indices as i', 'i.id', 'c.index_id')
      .innerJoin('apt_suites as s', 's.id', 'i.suite_id')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('s.repository_id', '=', repositoryId)
      .where('c.dirty', '=', true)
      .executeTakeFirst(),
  ]);
  return JSON.stringify([
    repository?.current_publication_id,
    repository?.valid_for,
    suites.map((s) => [s.id, s.codename, s.suite, s.components, s.architectures]),
    keys.map((k) => [k.key_id, k.state]),
    dirty?.n ?? 0,
  ]);
}

type PreviousFiles = ReadonlyMap<
  string,
  { sha256: string; size: number; parts: readonly string[] | null }
>;

/** The files of publication `number`, by path; `not_found` if it expired. */
async function publicationFiles(
  db: Db,
  repository: RepositoryRow,
  number: number,
): Promise<PreviousFiles> {
  const publication = await db
    .selectFrom('apt_publications')
    .select('id')
    .where('repository_id', '=', repository.id)
    .where('number', '=', number)
    .executeTakeFirst();
  if (publication === undefined) {
    throw new KilnError('not_found', `publication ${number} not found (it may have expired)`);
  }
  const rows = await db
    .selectFrom('apt_publication_files')
    .select(['path', 'sha256', 'size', 'parts'])
    .where('publication_id', '=', publication.id)
    .execute();
  return new Map(rows.map((r) => [r.path, r]));
}

/** The index files under `base` (a suite's dists/ directory), without its Release files. */
function indexFilesOf(files: PreviousFiles, base: string): IndexFile[] {
  return [...files]
    .filter(([path]) => path.startsWith(`${base}/`) && !/\/(In)?Release(\.gpg)?$/.test(path))
    .map(([path, f]) => ({
      path: path.slice(base.length + 1),
      sha256: f.sha256,
      size: f.size,
      parts: f.parts,
    }));
}

async function previousFiles(db: Db, repository: RepositoryRow): Promise<PreviousFiles> {
  if (repository.current_publication_id === null) {
    return new Map();
  }
  const rows = await db
    .selectFrom('apt_publication_files')
    .select(['path', 'sha256', 'size', 'parts'])
    .where('publication_id', '=', repository.current_publication_id)
    .execute();
  return new Map(rows.map((r) => [r.path, r]));
}

const emptyGzip = gzipSync(Buffer.alloc(0));

/**
 * The index files of a suite: rebuilds the dirty chunks of its indices, then
 * writes each index whose chunks are not the ones the previous publication's
 * file was made of (its `parts`); an unchanged index keeps that file. Which
 * chunks were dirty does not decide it: a publish that died after rebuilding
 * them must still write the indices they changed.
 */
async function publishSuiteIndices(
  deps: PublisherDeps,
  db: Db,
  suite: SuiteRow,
  previous: PreviousFiles,
): Promise<IndexFile[]> {
  const indices = await ensureIndices(db, suite.id, [
    ...suite.components.flatMap((component) => [
      ...suite.architectures.map((architecture) => ({
        component,
        kind: 'packages' as const,
        architecture,
      })),
      { component, kind: 'sources' as const, architecture: '' },
    ]),
  ]);
  const wanted = [...indices].filter(([name]) => {
    const [kind, component, architecture] = name.split('/');
    return (
      component !== undefined &&
      suite.components.includes(component) &&
      (kind === 'sources' ||
        (architecture !== undefined && suite.architectures.includes(architecture)))
    );
  });
  const ids = wanted.map(([, id]) => id);
  const stored: string[] = [];
  for (const chunk of await listDirtyChunks(db, ids)) {
    const kind =
      wanted.find(([, id]) => id === chunk.index_id)?.[0].split('/')[0] === 'sources'
        ? 'sources'
        : 'packages';
    const stanzas = await listChunkStanzas(db, chunk.index_id, chunk.chunk, kind);
    if (stanzas.length === 0) {
      await saveChunk(db, chunk.index_id, chunk.chunk, undefined);
      continue;
    }
    // Each stanza is followed by a blank line, so chunks concatenate into an index.
    const text = Buffer.from(stanzas.map((s) => `${s}\n`).join(''), 'utf8');
    const plain = await storeContent(db, deps.store, text, { deferSync: true });
    const gz = await storeContent(db, deps.store, gzipSync(text, { level: 6 }), {
      deferSync: true,
    });
    stored.push(plain.sha256, gz.sha256);
    await saveChunk(db, chunk.index_id, chunk.chunk, {
      text_sha256: plain.sha256,
      text_size: plain.size,
      gz_sha256: gz.sha256,
      gz_size: gz.size,
    });
  }
  const chunks = await listChunks(db, ids);
  const files: IndexFile[] = [];
  for (const [name, id] of wanted) {
    const [kind, component, architecture] = name.split('/');
    const dir =
      kind === 'sources'
        ? `${component ?? ''}/source`
        : `${component ?? ''}/binary-${architecture ?? ''}`;
    const base = kind === 'sources' ? 'Sources' : 'Packages';
    const plainPath = `${dir}/${base}`;
    const gzPath = `${dir}/${base}.gz`;
    const before = [
      previous.get(`dists/${suite.codename}/${plainPath}`),
      previous.get(`dists/${suite.codename}/${gzPath}`),
    ];
    const own = chunks.filter(
      (c) => c.index_id === id && c.text_sha256 !== null && c.gz_sha256 !== null,
    );
    const textParts = own.map((c) => c.text_sha256 ?? '');
    const gzParts = own.map((c) => c.gz_sha256 ?? '');
    if (sameParts(before[0]?.parts, textParts) && sameParts(before[1]?.parts, gzParts)) {
      files.push(
        {
          path: plainPath,
          sha256: before[0]?.sha256 ?? '',
          size: before[0]?.size ?? 0,
          parts: textParts,
        },
        {
          path: gzPath,
          sha256: before[1]?.sha256 ?? '',
          size: before[1]?.size ?? 0,
          parts: gzParts,
        },
      );
      continue;
    }
    // An index is not stored again whole: it is its chunks, concatenated when
    // served, so a change costs one chunk and a hash of the index. gzip allows
    // concatenated members (RFC 1952 §2.2): the .gz is the chunks' members in order.
    const plain = await describeConcatenation(
      deps.store,
      own.map((c) => c.text_sha256 ?? ''),
    );
    const gz =
      own.length === 0
        ? await storeEmptyGzip(db, deps.store, stored)
        : await describeConcatenation(
            deps.store,
            own.map((c) => c.gz_sha256 ?? ''),
          );
    files.push(
      { path: plainPath, ...plain, parts: textParts },
      // The empty .gz is stored whole: no parts.
      { path: gzPath, ...gz, parts: own.length === 0 ? null : gzParts },
    );
  }
  // One sync for the chunks (and empty indices) stored above, before they are recorded.
  await deps.store.sync(stored);
  return files;
}

function sameParts(before: readonly string[] | null | undefined, now: readonly string[]): boolean {
  return before != null && before.length === now.length && before.every((p, i) => p === now[i]);
}

async function storeEmptyGzip(db: Db, store: FileStore, stored: string[]) {
  const content = await storeContent(db, store, emptyGzip, { deferSync: true });
  stored.push(content.sha256);
  return content;
}

/** Chunks read ahead while the index they make up is hashed. */
const readAhead = 16;

/** The sha256 and size of stored parts concatenated, and the parts. */
async function describeConcatenation(
  store: FileStore,
  parts: readonly string[],
): Promise<{ sha256: string; size: number; parts: readonly string[] }> {
  const hash = createHash('sha256');
  let size = 0;
  for (let i = 0; i < parts.length; i += readAhead) {
    for (const content of await Promise.all(
      parts.slice(i, i + readAhead).map((part) => store.read(part)),
    )) {
      hash.update(content);
      size += content.length;
    }
  }
  return { sha256: hash.digest('hex'), size, parts };
}

async function recordPublication(
  db: Db,
  repository: RepositoryRow,
  files: readonly PublishedFile[],
): Promise<PublishResult> {
  const last = await db
    .selectFrom('apt_publications')
    .select((eb) => eb.fn.max('number').as('n'))
    .where('repository_id', '=', repository.id)
    .executeTakeFirst();
  const number = (last?.n ?? 0) + 1;
  const publication = await db
    .insertInto('apt_publications')
    .values({ repository_id: repository.id, number })
    .returning('id')
    .executeTakeFirstOrThrow();
  await db
    .insertInto('apt_publication_files')
    .values(
      files.map((f) => ({
        publication_id: publication.id,
        path: f.path,
        sha256: f.sha256,
        size: f.size,
        parts: f.parts === undefined || f.parts === null ? null : [...f.parts],
      })),
    )
    .execute();
  await db
    .updateTable('apt_repositories')
    .set({ current_publication_id: publication.id })
    .where('id', '=', repository.id)
    .execute();
  // History expires by policy: the newest publications are kept (and the current one).
  await db
    .deleteFrom('apt_publications')
    .where('repository_id', '=', repository.id)
    .where('number', '<=', number - repository.keep_publications)
    .where('id', '!=', publication.id)
    .execute();
  return { number, files: files.length };
}
