import { sql } from 'kysely';
import { KilnError } from '../../../protocol/errors.ts';
import type { Db } from '../../db/connect.ts';
import type { FileStore, StagedFile } from '../../files/file-store.ts';
import { recordStagedContents } from '../../files/stored-content.ts';
import type { Signer } from '../../signer/signer.ts';
import type { PrebuiltChunks } from './chunk-prebuild.ts';
import type { DebReaders } from './deb-readers.ts';
import { buildSuiteIndices, type ChunkUpdate, type PreviousFiles } from './index-builder.ts';
import type { IndexHashCache } from './index-hashes.ts';
import { describeDirtyChunks, saveChunks } from './index.repository.ts';
import { releaseText, type IndexFile } from './release.ts';
import {
  findRepositoryById,
  listRepositoryKeys,
  listSuites,
  type RepositoryRow,
} from './repository.repository.ts';

export interface PublisherDeps {
  readonly db: Db;
  readonly store: FileStore;
  readonly signer: Signer;
  /** One per server process, shared by everything that publishes there. */
  readonly indexHashes: IndexHashCache;
  /** .debs an include reads and adds at a time (`includeSlice`; tests make it small). */
  readonly includeSlice?: number | undefined;
  /** Threads an include reads many .debs in; without them it reads them itself. */
  readonly debReaders?: DebReaders | undefined;
  /** Up to how many .debs an include reads itself (`readHereUpTo`; tests make it 0). */
  readonly readHereUpTo?: number | undefined;
}

export interface PublishResult {
  readonly number: number;
  readonly files: number;
}

// Serialises publications of one repository across servers.
const publishLockSpace = 0x61707470;

/**
 * Publishes a repository: rebuilds the index chunks its changes made dirty,
 * describes every changed index file (plain and gzip), makes and signs each
 * suite's Release (InRelease and Release.gpg), and records an immutable,
 * numbered publication that becomes current in one transaction. A client
 * sees the old publication or the new one, never a mix: index files are
 * content-addressed and fetched by hash.
 *
 * The first transaction changes nothing: it stages the new content. Signing
 * happens after it, so that no transaction waits on the signer (which may be
 * remote, and on PGlite shares the one connection). The second transaction
 * records the publication, the rebuilt chunks and the content they name, made
 * durable with one sync, only if nothing changed the repository meanwhile;
 * otherwise the publisher starts again.
 */
export async function publishRepository(
  deps: PublisherDeps,
  repositoryId: number,
  options: PublishOptions = {},
): Promise<PublishResult> {
  for (let attempt = 1; ; attempt++) {
    const prepared = await deps.db
      .transaction()
      .execute(async (db) => prepare(deps, db, repositoryId, options));
    try {
      const recorded = await record(deps, repositoryId, prepared);
      if (recorded !== undefined) {
        return recorded;
      }
    } finally {
      await Promise.all(prepared.staged.map((f) => f.discard()));
    }
    if (attempt === 5) {
      throw new KilnError('conflict', 'the repository kept changing while it was published');
    }
  }
}

/** Signs the Release files of a prepared publication and records it, unless the repository changed. */
async function record(
  deps: PublisherDeps,
  repositoryId: number,
  prepared: Prepared,
): Promise<PublishResult | undefined> {
  const files: PublishedFile[] = [...prepared.files];
  // The Release files staged here; the prepared ones are the caller's to discard.
  const releaseFiles: StagedFile[] = [];
  try {
    for (const { base, release } of prepared.releases) {
      const [inRelease, detached] = await Promise.all([
        deps.signer.clearsign(prepared.keyIds, release),
        deps.signer.detachSign(prepared.keyIds, release),
      ]);
      for (const [name, text] of [
        ['Release', release],
        ['InRelease', inRelease],
        ['Release.gpg', detached],
      ] as const) {
        const content = Buffer.from(text, 'utf8');
        const file = await deps.store.stage(content, { maxSize: content.length, deferSync: true });
        releaseFiles.push(file);
        // Not listed in a Release file: no SHA512 is asked of them.
        files.push({ path: `${base}/${name}`, sha256: file.sha256, sha512: null, size: file.size });
      }
    }
    return await deps.db.transaction().execute(async (db) => {
      await lockRepository(db, repositoryId);
      if ((await stateOf(db, repositoryId)) !== prepared.state) {
        return undefined;
      }
      // A chunk changed since it was read (by a change that committed after the check above).
      if (!(await saveChunks(db, prepared.chunks))) {
        throw new ChangedMeanwhile();
      }
      // One sync for everything this publication stored, before it is recorded.
      const moved = await recordStagedContents(db, [...prepared.staged, ...releaseFiles]);
      await deps.store.sync(moved);
      return recordPublication(db, prepared.repository, files);
    });
  } catch (error) {
    if (error instanceof ChangedMeanwhile) {
      return undefined;
    }
    throw error;
  } finally {
    await Promise.all(releaseFiles.map((f) => f.discard()));
  }
}

/** Rolls the recording transaction back: the publisher starts again. */
class ChangedMeanwhile extends Error {}

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
  /** Index chunks the change before this publication made (see chunk-prebuild.ts). */
  readonly prebuilt?: PrebuiltChunks | undefined;
}

/** A file of a publication's dists/ tree: an index file, or a Release file (stored whole). */
type PublishedFile = IndexFile;

interface Prepared {
  readonly repository: RepositoryRow;
  readonly keyIds: readonly number[];
  readonly files: readonly PublishedFile[];
  readonly releases: readonly { base: string; release: string }[];
  /** Rebuilt index chunks, saved with the publication. */
  readonly chunks: readonly ChunkUpdate[];
  /** Their content, staged. */
  readonly staged: readonly StagedFile[];
  readonly state: string;
}

/** The index files and the Release text of every suite, from the repository as it is now. */
async function prepare(
  deps: PublisherDeps,
  db: Db,
  repositoryId: number,
  { from, prebuilt }: PublishOptions,
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
  const chunks: ChunkUpdate[] = [];
  const staged: StagedFile[] = [];
  const now = new Date();
  try {
    for (const suite of await listSuites(db, repositoryId)) {
      const base = `dists/${suite.codename}`;
      let indexFiles: IndexFile[];
      if (earlier === undefined) {
        const built = await buildSuiteIndices(deps, db, suite, previous, prebuilt);
        chunks.push(...built.chunks);
        staged.push(...built.staged);
        indexFiles = built.files;
      } else {
        indexFiles = indexFilesOf(earlier, base);
      }
      if (indexFiles.length === 0) {
        continue; // A suite made after the earlier publication.
      }
      releases.push({ base, release: releaseText(repository, suite, indexFiles, now) });
      files.push(...indexFiles.map((f) => ({ ...f, path: `${base}/${f.path}` })));
    }
    const state = await stateOf(db, repositoryId);
    return { repository, keyIds, files, releases, chunks, staged, state };
  } catch (error) {
    await Promise.all(staged.map((f) => f.discard()));
    throw error;
  }
}

/**
 * What a publication is made from, in one string: the suites, the signing
 * keys, the current publication and the dirty index chunks, each in the
 * version it is in. Every change to a repository changes it: a change to its
 * packages updates the chunks their entries are in (dirty already or not).
 */
async function stateOf(db: Db, repositoryId: number): Promise<string> {
  const [repository, suites, keys, dirty] = await Promise.all([
    findRepositoryById(db, repositoryId),
    listSuites(db, repositoryId),
    listRepositoryKeys(db, repositoryId),
    describeDirtyChunks(db, repositoryId),
  ]);
  return JSON.stringify([
    repository?.current_publication_id,
    repository?.valid_for,
    suites.map((s) => [s.id, s.codename, s.suite, s.components, s.architectures]),
    keys.map((k) => [k.key_id, k.state]),
    dirty,
  ]);
}

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
    .select(['path', 'sha256', 'sha512', 'size', 'parts'])
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
      sha512: f.sha512,
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
    .select(['path', 'sha256', 'sha512', 'size', 'parts'])
    .where('publication_id', '=', repository.current_publication_id)
    .execute();
  return new Map(rows.map((r) => [r.path, r]));
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
        sha512: f.sha512,
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
