import { sql } from 'kysely';
import { KilnError } from '../../../protocol/errors.ts';
import type { CopyBody, IncludeBody, RemoveBody } from '../../../protocol/repos.schema.ts';
import { listFilesOfArtifacts } from '../../artifacts/artifact.repository.ts';
import type { Db } from '../../db/connect.ts';
import { pgArray } from '../../db/unnest.ts';
import { readHereUpTo } from './binary-reading.ts';
import { ingestPackages, type IncludeResult, type IngestArtifact } from './ingest.ts';
import { ensureIndices, indexKeys, indexName, markIndexChunks } from './index.repository.ts';
import { deleteBinaries, deleteSources, addBinaries, insertSource } from './package.repository.ts';
import { lockRepository, type PublisherDeps } from './publisher.ts';
import {
  findRepositoryById,
  findSuite,
  insertSuite,
  setSuiteArchitectures,
  type RepositoryRow,
  type SuiteRow,
} from './repository.repository.ts';

/** What changes a repository: the operations run by `apt:*` server-side tasks. */

async function load(
  db: Db,
  repositoryId: number,
  codename: string,
): Promise<{ repository: RepositoryRow; suite: SuiteRow }> {
  const repository = await findRepositoryById(db, repositoryId);
  if (repository === undefined) {
    throw new KilnError('not_found', `repository ${repositoryId} not found`);
  }
  const suite = await findSuite(db, repositoryId, codename);
  if (suite === undefined) {
    throw new KilnError('not_found', `repository ${repository.name} has no suite ${codename}`);
  }
  return { repository, suite };
}

/**
 * Starts a reading thread now when the artifacts hold more .debs than an
 * include reads itself: it loads its code (~0.1 s) while the include lists
 * and locks what it needs, and reads its first slice.
 */
async function warmReaders(deps: PublisherDeps, artifacts: readonly number[]): Promise<void> {
  if (deps.debReaders === undefined) {
    return;
  }
  const { count } = await deps.db
    .selectFrom('artifact_files')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('artifact_id', '=', sql<number>`any(${[...artifacts]}::bigint[])`)
    .where((eb) => eb.or([eb('path', 'like', '%.deb'), eb('path', 'like', '%.udeb')]))
    .executeTakeFirstOrThrow();
  if (Number(count) > (deps.readHereUpTo ?? readHereUpTo)) {
    deps.debReaders.warm();
  }
}

/** Adds the packages of artifacts (read once, here) to a suite. */
export async function includeArtifacts(
  deps: PublisherDeps,
  repositoryId: number,
  request: IncludeBody,
): Promise<IncludeResult> {
  // Counted while the include looks up what it needs, not before.
  const warming = warmReaders(deps, request.artifacts);
  // A failure to count only leaves the thread to start when the first .debs are read.
  warming.catch(() => undefined);
  const { repository, suite } = await load(deps.db, repositoryId, request.suite);
  const component = request.component ?? suite.components[0] ?? 'main';
  if (!suite.components.includes(component)) {
    throw new KilnError('bad_request', `suite ${suite.codename} has no component ${component}`);
  }
  const rows = await deps.db
    .selectFrom('artifacts')
    .select(['id', 'type'])
    .where('id', '=', sql<number>`any(${request.artifacts}::bigint[])`)
    .execute();
  const types = new Map(rows.map((r) => [r.id, r.type]));
  const missing = request.artifacts.find((id) => !types.has(id));
  if (missing !== undefined) {
    throw new KilnError('not_found', `artifact ${missing} not found`);
  }
  const filesOf = await listFilesOfArtifacts(deps.db, request.artifacts);
  const artifacts: IngestArtifact[] = request.artifacts.map((id) => {
    const files = filesOf.get(id) ?? [];
    const incomplete = files.find((f) => !f.complete);
    if (incomplete !== undefined) {
      throw new KilnError(
        'incomplete_upload',
        `${incomplete.path} of artifact ${id} is not uploaded yet`,
      );
    }
    return { id, type: types.get(id) ?? '', files };
  });
  const force = request.force === true;
  return deps.db.transaction().execute(async (db) => {
    await holdForChange(
      db,
      repository,
      artifacts.map((a) => a.id),
    );
    return ingestPackages(
      { store: deps.store, readers: deps.debReaders, readHereUpTo: deps.readHereUpTo },
      db,
      { repository, suite, component, force },
      artifacts,
      deps.includeSlice,
    );
  });
}

/**
 * Holds, until the transaction `db` ends, what the rows a change adds refer
 * to (the pool and the binaries have no foreign keys: migration 0016): the
 * repository, whose deletion waits and then takes the new rows with it, and
 * the artifacts, whose deletion waits and then fails. Changes of one
 * repository that add to its pool, and its publications, run one at a time.
 */
async function holdForChange(
  db: Db,
  repository: RepositoryRow,
  artifactIds: readonly number[],
): Promise<void> {
  await lockRepository(db, repository.id);
  const held = await db
    .selectFrom('apt_repositories')
    .select('id')
    .where('id', '=', repository.id)
    .forKeyShare()
    .executeTakeFirst();
  if (held === undefined) {
    throw new KilnError('not_found', `repository ${repository.name} no longer exists`);
  }
  const wanted = [...new Set(artifactIds)];
  if (wanted.length === 0) {
    return;
  }
  const artifacts = new Set(
    (
      await db
        .selectFrom('artifacts')
        .select('id')
        .where('id', 'in', wanted)
        .forKeyShare()
        .execute()
    ).map((a) => a.id),
  );
  const gone = wanted.find((id) => !artifacts.has(id));
  if (gone !== undefined) {
    throw new KilnError('not_found', `artifact ${gone} no longer exists`);
  }
}

/** Removes a source with its binaries, or one architecture's binary. */
export async function removePackage(
  deps: PublisherDeps,
  repositoryId: number,
  request: RemoveBody,
): Promise<string[]> {
  const { suite } = await load(deps.db, repositoryId, request.suite);
  return deps.db.transaction().execute(async (db) => {
    let binaries = db
      .selectFrom('apt_binaries')
      .select(['id', 'package', 'version', 'architecture'])
      .where('suite_id', '=', suite.id);
    binaries =
      request.architecture === undefined
        ? binaries.where((eb) =>
            eb.or([eb('source', '=', request.package), eb('package', '=', request.package)]),
          )
        : binaries
            .where('package', '=', request.package)
            .where('architecture', '=', request.architecture);
    const gone = await binaries.execute();
    const sources =
      request.architecture === undefined
        ? await db
            .selectFrom('apt_sources')
            .select(['id', 'package', 'version'])
            .where('suite_id', '=', suite.id)
            .where('package', '=', request.package)
            .execute()
        : [];
    if (gone.length === 0 && sources.length === 0) {
      throw new KilnError(
        'not_found',
        `suite ${suite.codename} has no ${request.package}${request.architecture === undefined ? '' : ` for ${request.architecture}`}`,
      );
    }
    const indices = await ensureIndices(db, suite.id, []);
    await deleteBinaries(
      db,
      indices,
      gone.map((b) => b.id),
    );
    await deleteSources(
      db,
      indices,
      sources.map((s) => s.id),
    );
    return [
      ...gone.map((b) => `${b.package} ${b.version} ${b.architecture}`),
      ...sources.map((s) => `${s.package} ${s.version} source`),
    ];
  });
}

/** Copies binaries and sources (all, or given source packages) from one suite to another. */
export async function copyPackages(
  deps: PublisherDeps,
  repositoryId: number,
  request: CopyBody,
): Promise<number> {
  const { repository, suite: from } = await load(deps.db, repositoryId, request.from);
  const { suite: to } = await load(deps.db, repositoryId, request.to);
  return deps.db.transaction().execute(async (db) => {
    await holdForChange(db, repository, []);
    let binaries = db.selectFrom('apt_binaries').selectAll().where('suite_id', '=', from.id);
    let sources = db.selectFrom('apt_sources').selectAll().where('suite_id', '=', from.id);
    if (request.packages !== undefined) {
      binaries = binaries.where('source', '=', anyText(request.packages));
      sources = sources.where('package', '=', anyText(request.packages));
    }
    const copiedBinaries = (await binaries.execute()).filter(
      (b) =>
        (b.architecture === 'all' || to.architectures.includes(b.architecture)) &&
        to.components.includes(b.component),
    );
    const copiedSources = (await sources.execute()).filter((s) =>
      to.components.includes(s.component),
    );
    const indices = await ensureIndices(db, to.id, indexKeys(to.components, to.architectures));
    // Copies replace what the target suite has of the same packages.
    await deleteBinaries(
      db,
      indices,
      (
        await db
          .selectFrom('apt_binaries')
          .select('id')
          .where('suite_id', '=', to.id)
          .where('package', '=', anyText(copiedBinaries.map((b) => b.package)))
          .execute()
      ).map((r) => r.id),
    );
    await deleteSources(
      db,
      indices,
      (
        await db
          .selectFrom('apt_sources')
          .select('id')
          .where('suite_id', '=', to.id)
          .where('package', '=', anyText(copiedSources.map((s) => s.package)))
          .execute()
      ).map((r) => r.id),
    );
    for (const component of to.components) {
      const binaries = copiedBinaries.filter((b) => b.component === component);
      const rows = binaries.map(({ id: _id, added_at: _at, chunk: _chunk, ...b }) => ({
        ...b,
        suite_id: to.id,
      }));
      await addBinaries(db, indices, to.id, component, rows);
    }
    for (const source of copiedSources) {
      const { id: _id, added_at: _at, chunk: _chunk, suite_id: _suite, ...row } = source;
      await insertSource(db, { ...row, suite_id: to.id }, indices);
    }
    return copiedBinaries.length + copiedSources.length;
  });
}

/**
 * `any($1::text[])`: a list of any length as one parameter, where `in (...)`
 * takes one a value, and a statement takes at most 65,535 (a suite of 70,000
 * packages could not be copied or snapshotted).
 */
function anyText(values: readonly string[]) {
  return sql<string>`any(${pgArray(values)}::text[])`;
}

/** Snapshots a suite: a new suite `name` with the same contents, frozen unless changed. */
export async function snapshotSuite(
  deps: PublisherDeps,
  repositoryId: number,
  request: { suite: string; name: string },
): Promise<number> {
  const { suite } = await load(deps.db, repositoryId, request.suite);
  if ((await findSuite(deps.db, repositoryId, request.name)) !== undefined) {
    throw new KilnError('already_exists', `suite ${request.name} already exists`);
  }
  await insertSuite(deps.db, {
    repository_id: repositoryId,
    codename: request.name,
    suite: request.name,
    components: suite.components,
    architectures: suite.architectures,
  });
  return copyPackages(deps, repositoryId, { from: suite.codename, to: request.name });
}

/** Adds an architecture to a suite; its Packages start with the suite's `all` packages. */
export async function addArchitecture(
  deps: PublisherDeps,
  repositoryId: number,
  request: { suite: string; architecture: string },
): Promise<void> {
  const { suite } = await load(deps.db, repositoryId, request.suite);
  if (suite.architectures.includes(request.architecture)) {
    throw new KilnError(
      'already_exists',
      `suite ${suite.codename} already has ${request.architecture}`,
    );
  }
  await deps.db.transaction().execute(async (db) => {
    await setSuiteArchitectures(db, suite.id, [...suite.architectures, request.architecture]);
    const indices = await ensureIndices(
      db,
      suite.id,
      suite.components.map((component) => ({
        component,
        kind: 'packages' as const,
        architecture: request.architecture,
      })),
    );
    for (const component of suite.components) {
      const indexId = indices.get(
        indexName({ component, kind: 'packages', architecture: request.architecture }),
      );
      const all = await db
        .selectFrom('apt_binaries')
        .select('chunk')
        .distinct()
        .where('suite_id', '=', suite.id)
        .where('component', '=', component)
        .where('architecture', '=', 'all')
        .execute();
      if (indexId !== undefined) {
        await markIndexChunks(
          db,
          indexId,
          all.map((b) => b.chunk),
        );
      }
    }
  });
}
