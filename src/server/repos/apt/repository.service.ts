import { KilnError } from '../../../protocol/errors.ts';
import type {
  CreateRepositoryBody,
  Publication,
  RepoPackage,
  Repository,
} from '../../../protocol/repos.schema.ts';
import type { Task } from '../../../protocol/tasks.schema.ts';
import type { Actor } from '../../auth/actor.ts';
import type { Db } from '../../db/connect.ts';
import type { Signer } from '../../signer/signer.ts';
import { submitTask, type TaskDeps } from '../../scheduler/task.service.ts';
import { authorizeWorkspace, type WorkspaceAction } from '../../workspaces/access.ts';
import type { WorkspaceWithRole } from '../../workspaces/workspace.repository.ts';
import { publishRepository, type PublisherDeps } from './publisher.ts';
import {
  addRepositoryKey,
  deleteRepository,
  findRepository,
  insertRepository,
  insertSuite,
  listRepositories,
  listRepositoryKeys,
  listSuites,
  removeRepositoryKey,
  type RepositoryRow,
} from './repository.repository.ts';

export interface RepositoryDeps extends PublisherDeps {
  readonly tasks: TaskDeps;
  /** The server's public URL (known once it listens). */
  readonly publicUrl: () => string;
}

export interface RepositoryAccess {
  readonly access: WorkspaceWithRole;
  readonly repository: RepositoryRow;
}

/** Finds a repository and checks the actor may do `action` in its workspace. */
export async function authorizeRepository(
  db: Db,
  actor: Actor,
  workspace: string,
  name: string,
  action: WorkspaceAction,
): Promise<RepositoryAccess> {
  const access = await authorizeWorkspace(db, actor, workspace, action);
  const repository = await findRepository(db, access.workspace.id, name);
  if (repository === undefined) {
    throw new KilnError('not_found', `repository ${workspace}/${name} not found`);
  }
  return { access, repository };
}

export function repositoryUrl(publicUrl: string, workspace: string, name: string): string {
  return `${publicUrl}/repos/${encodeURIComponent(workspace)}/${encodeURIComponent(name)}`;
}

async function describe(
  deps: RepositoryDeps,
  workspace: string,
  repository: RepositoryRow,
): Promise<Repository> {
  const suites = await listSuites(deps.db, repository.id);
  const keys = await listRepositoryKeys(deps.db, repository.id);
  const described = await deps.signer.getKeys(keys.map((k) => k.key_id));
  const fingerprints = new Map(described.map((k) => [k.id, k.fingerprint]));
  const current =
    repository.current_publication_id === null
      ? undefined
      : await deps.db
          .selectFrom('apt_publications')
          .select('number')
          .where('id', '=', repository.current_publication_id)
          .executeTakeFirst();
  return {
    name: repository.name,
    workspace,
    origin: repository.origin,
    label: repository.label,
    description: repository.description,
    valid_for: repository.valid_for,
    keep_publications: repository.keep_publications,
    suites: suites.map((s) => ({
      codename: s.codename,
      suite: s.suite,
      components: s.components,
      architectures: s.architectures,
    })),
    keys: keys.map((k) => ({
      fingerprint: fingerprints.get(k.key_id) ?? '',
      state: k.state,
      added_at: k.added_at.toISOString(),
    })),
    publication: current?.number ?? null,
    url: repositoryUrl(deps.publicUrl(), workspace, repository.name),
    created_at: repository.created_at.toISOString(),
  };
}

/**
 * Creates a repository with its suites and a signing key of its own (made and
 * held by the signer), and publishes it empty so apt can use it at once.
 */
export async function createRepository(
  deps: RepositoryDeps,
  actor: Actor,
  workspace: string,
  request: CreateRepositoryBody,
): Promise<Repository> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'write');
  const codenames = request.suites.map((s) => s.codename);
  if (new Set(codenames).size !== codenames.length) {
    throw new KilnError('bad_request', 'a suite is named twice');
  }
  const key = await deps.signer.createKey({
    name: `${request.label ?? request.name} archive key (${workspace})`,
  });
  const repository = await deps.db.transaction().execute(async (db) => {
    const row = await insertRepository(db, {
      workspace_id: access.workspace.id,
      name: request.name,
      origin: request.origin ?? request.name,
      label: request.label ?? request.name,
      description: request.description ?? '',
      valid_for: request.valid_for ?? null,
      keep_publications: request.keep_publications ?? 20,
    });
    if (row === undefined) {
      throw new KilnError(
        'already_exists',
        `repository ${workspace}/${request.name} already exists`,
      );
    }
    for (const suite of request.suites) {
      await insertSuite(db, {
        repository_id: row.id,
        codename: suite.codename,
        suite: suite.suite ?? suite.codename,
        components: suite.components ?? ['main'],
        architectures: suite.architectures ?? ['amd64'],
      });
    }
    await addRepositoryKey(db, row.id, key.id, 'active');
    return row;
  });
  await publishRepository(deps, repository.id);
  return showRepository(deps, actor, workspace, request.name);
}

export async function showRepository(
  deps: RepositoryDeps,
  actor: Actor,
  workspace: string,
  name: string,
): Promise<Repository> {
  const { repository } = await authorizeRepository(deps.db, actor, workspace, name, 'read');
  return describe(deps, workspace, repository);
}

export async function listWorkspaceRepositories(
  deps: RepositoryDeps,
  actor: Actor,
  workspace: string,
): Promise<Repository[]> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'read');
  return Promise.all(
    (await listRepositories(deps.db, access.workspace.id)).map((r) => describe(deps, workspace, r)),
  );
}

export async function removeRepository(
  deps: RepositoryDeps,
  actor: Actor,
  workspace: string,
  name: string,
): Promise<void> {
  const { repository } = await authorizeRepository(deps.db, actor, workspace, name, 'own');
  await deps.db.transaction().execute((db) => deleteRepository(db, repository.id));
}

/**
 * Queues a repository change as a server-side task (it publishes when done)
 * after checking the actor may change the repository; the artifacts it reads
 * must be visible to the actor.
 */
export async function submitRepositoryTask(
  deps: RepositoryDeps,
  actor: Actor,
  workspace: string,
  name: string,
  type: string,
  input: Record<string, unknown>,
): Promise<Task> {
  const { repository } = await authorizeRepository(deps.db, actor, workspace, name, 'write');
  // Refuse a suite that does not exist now, rather than in a task that fails later.
  const codenames = new Set((await listSuites(deps.db, repository.id)).map((s) => s.codename));
  for (const field of ['suite', 'from', 'to']) {
    const codename = input[field];
    if (typeof codename === 'string' && !codenames.has(codename)) {
      throw new KilnError('not_found', `suite ${codename} not found in ${workspace}/${name}`);
    }
  }
  return submitTask(
    deps.tasks,
    actor,
    workspace,
    { type, input: { ...input, repository: repository.id } },
    { internal: true },
  );
}

export async function listPackages(
  deps: RepositoryDeps,
  actor: Actor,
  workspace: string,
  name: string,
  suite: string | undefined,
): Promise<RepoPackage[]> {
  const { repository } = await authorizeRepository(deps.db, actor, workspace, name, 'read');
  let binaries = deps.db
    .selectFrom('apt_binaries as b')
    .innerJoin('apt_suites as s', 's.id', 'b.suite_id')
    .select(['s.codename', 'b.component', 'b.package', 'b.version', 'b.architecture', 'b.source'])
    .where('s.repository_id', '=', repository.id);
  let sources = deps.db
    .selectFrom('apt_sources as x')
    .innerJoin('apt_suites as s', 's.id', 'x.suite_id')
    .select(['s.codename', 'x.component', 'x.package', 'x.version'])
    .where('s.repository_id', '=', repository.id);
  if (suite !== undefined) {
    binaries = binaries.where('s.codename', '=', suite);
    sources = sources.where('s.codename', '=', suite);
  }
  const rows: RepoPackage[] = [
    ...(await binaries.execute()).map((b) => ({
      suite: b.codename,
      component: b.component,
      package: b.package,
      version: b.version,
      architecture: b.architecture,
      source: b.source,
      kind: 'binary' as const,
    })),
    ...(await sources.execute()).map((x) => ({
      suite: x.codename,
      component: x.component,
      package: x.package,
      version: x.version,
      architecture: 'source',
      source: x.package,
      kind: 'source' as const,
    })),
  ];
  return rows.sort(
    (a, b) =>
      a.suite.localeCompare(b.suite) ||
      a.package.localeCompare(b.package) ||
      a.architecture.localeCompare(b.architecture),
  );
}

export async function listPublications(
  deps: RepositoryDeps,
  actor: Actor,
  workspace: string,
  name: string,
): Promise<Publication[]> {
  const { repository } = await authorizeRepository(deps.db, actor, workspace, name, 'read');
  const rows = await deps.db
    .selectFrom('apt_publications as p')
    .leftJoin('apt_publication_files as f', 'f.publication_id', 'p.id')
    .select((eb) => ['p.id', 'p.number', 'p.created_at', eb.fn.count<number>('f.path').as('files')])
    .where('p.repository_id', '=', repository.id)
    .groupBy(['p.id', 'p.number', 'p.created_at'])
    .orderBy('p.number', 'desc')
    .execute();
  return rows.map((r) => ({
    number: r.number,
    created_at: r.created_at.toISOString(),
    current: r.id === repository.current_publication_id,
    files: r.files,
  }));
}

/**
 * Every file of the served tree (for `kiln repo export`): the current
 * publication's dists/ files, each index also under its by-hash paths, those of
 * the previous publication by hash (clients mid-update), and the pool.
 */
export async function listTree(
  deps: RepositoryDeps,
  actor: Actor,
  workspace: string,
  name: string,
): Promise<{ path: string; sha256: string; size: number }[]> {
  const { repository } = await authorizeRepository(deps.db, actor, workspace, name, 'read');
  const publications = await deps.db
    .selectFrom('apt_publications')
    .select(['id', 'number'])
    .where('repository_id', '=', repository.id)
    .orderBy('number', 'desc')
    .limit(2)
    .execute();
  const files = new Map<string, { path: string; sha256: string; size: number }>();
  for (const publication of publications) {
    const rows = await deps.db
      .selectFrom('apt_publication_files')
      .select(['path', 'sha256', 'sha512', 'size'])
      .where('publication_id', '=', publication.id)
      .execute();
    for (const { sha512, ...row } of rows) {
      if (publication.id === repository.current_publication_id) {
        files.set(row.path, row);
      }
      if (!/\/(In)?Release(\.gpg)?$/.test(row.path)) {
        const dir = `${row.path.slice(0, row.path.lastIndexOf('/'))}/by-hash`;
        for (const hashed of [
          `${dir}/SHA256/${row.sha256}`,
          ...(sha512 === null ? [] : [`${dir}/SHA512/${sha512}`]),
        ]) {
          files.set(hashed, { ...row, path: hashed });
        }
      }
    }
  }
  const pool = await deps.db
    .selectFrom('apt_pool')
    .select(['path', 'sha256', 'size'])
    .where('repository_id', '=', repository.id)
    .execute();
  return [...pool, ...files.values()];
}

/** The repository's public keys (armored), for `signed-by`. */
export async function repositoryPublicKeys(
  db: Db,
  signer: Signer,
  repositoryId: number,
): Promise<string> {
  const keys = await listRepositoryKeys(db, repositoryId);
  return signer.publicKeys(keys.map((k) => k.key_id));
}

/**
 * Rotates the signing key: a new key signs from the next publication on, and
 * the old one keeps signing (retiring) until `retireOldKeys`, so clients that
 * only trust the old key keep working while they learn the new one.
 */
export async function rotateKey(
  deps: RepositoryDeps,
  actor: Actor,
  workspace: string,
  name: string,
): Promise<Repository> {
  const { repository } = await authorizeRepository(deps.db, actor, workspace, name, 'own');
  const key = await deps.signer.createKey({
    name: `${repository.label} archive key (${workspace})`,
  });
  await deps.db.transaction().execute(async (db) => {
    for (const old of await listRepositoryKeys(db, repository.id)) {
      await addRepositoryKey(db, repository.id, old.key_id, 'retiring');
    }
    await addRepositoryKey(db, repository.id, key.id, 'active');
  });
  await publishRepository(deps, repository.id);
  return describe(deps, workspace, repository);
}

export async function retireOldKeys(
  deps: RepositoryDeps,
  actor: Actor,
  workspace: string,
  name: string,
): Promise<Repository> {
  const { repository } = await authorizeRepository(deps.db, actor, workspace, name, 'own');
  await deps.db.transaction().execute(async (db) => {
    for (const key of await listRepositoryKeys(db, repository.id)) {
      if (key.state === 'retiring') {
        await removeRepositoryKey(db, repository.id, key.key_id);
      }
    }
  });
  await publishRepository(deps, repository.id);
  return describe(deps, workspace, repository);
}
