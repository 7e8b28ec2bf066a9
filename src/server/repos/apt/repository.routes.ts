import { Type } from 'typebox';
import { ErrorResponse } from '../../../protocol/common.schema.ts';
import {
  AddArchitectureBody,
  CopyBody,
  CreateRepositoryBody,
  IncludeBody,
  Publication,
  RemoveBody,
  RepoPackage,
  Repository,
  RepositoryParams,
  RollbackBody,
  SnapshotBody,
} from '../../../protocol/repos.schema.ts';
import { Task } from '../../../protocol/tasks.schema.ts';
import { WorkspaceParams } from '../../../protocol/workspaces.schema.ts';
import type { App } from '../../http/types.ts';
import {
  authorizeRepository,
  createRepository,
  listPackages,
  listPublications,
  listTree,
  listWorkspaceRepositories,
  removeRepository,
  repositoryPublicKeys,
  retireOldKeys,
  rotateKey,
  showRepository,
  submitRepositoryTask,
  type RepositoryDeps,
} from './repository.service.ts';

const errors = { '4xx': ErrorResponse };
const tags = ['repositories'];
const base = '/api/v1/workspaces/:workspace/repositories';

/** The repository operations that are queued as server-side tasks, by path. */
const operations = [
  ['include', 'apt:include', IncludeBody, 'Add packages from artifacts to a suite, then publish'],
  [
    'remove',
    'apt:remove',
    RemoveBody,
    'Remove a source with its binaries, or one binary, then publish',
  ],
  ['copy', 'apt:copy', CopyBody, 'Copy packages between suites, then publish'],
  ['snapshot', 'apt:snapshot', SnapshotBody, 'Snapshot a suite as a new suite, then publish'],
  [
    'add-architecture',
    'apt:add-architecture',
    AddArchitectureBody,
    'Add an architecture to a suite, then publish',
  ],
  ['publish', 'apt:publish', Type.Object({}, { additionalProperties: false }), 'Publish again'],
  ['rollback', 'apt:rollback', RollbackBody, 'Make an earlier publication current again'],
] as const;

export function registerRepositoryRoutes(app: App, deps: RepositoryDeps): void {
  app.get(
    base,
    {
      schema: {
        tags,
        summary: "A workspace's repositories",
        params: WorkspaceParams,
        response: { 200: Type.Object({ items: Type.Array(Repository) }), ...errors },
      },
    },
    async (request) => ({
      items: await listWorkspaceRepositories(deps, request.actor, request.params.workspace),
    }),
  );

  app.post(
    base,
    {
      schema: {
        tags,
        summary: 'Create an APT repository with its suites and signing key (writer)',
        params: WorkspaceParams,
        body: CreateRepositoryBody,
        response: { 201: Repository, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await createRepository(deps, request.actor, request.params.workspace, request.body)),
  );

  app.get(
    `${base}/:repository`,
    {
      schema: {
        tags,
        summary: 'A repository',
        params: RepositoryParams,
        response: { 200: Repository, ...errors },
      },
    },
    async (request) =>
      showRepository(deps, request.actor, request.params.workspace, request.params.repository),
  );

  app.delete(
    `${base}/:repository`,
    { schema: { tags, summary: 'Delete a repository (owner)', params: RepositoryParams } },
    async (request, reply) => {
      await removeRepository(
        deps,
        request.actor,
        request.params.workspace,
        request.params.repository,
      );
      return reply.status(204).send();
    },
  );

  app.get(
    `${base}/:repository/packages`,
    {
      schema: {
        tags,
        summary: 'The packages in a repository (or one suite)',
        params: RepositoryParams,
        querystring: Type.Object({ suite: Type.Optional(Type.String({ maxLength: 64 })) }),
        response: { 200: Type.Object({ items: Type.Array(RepoPackage) }), ...errors },
      },
    },
    async (request) => ({
      items: await listPackages(
        deps,
        request.actor,
        request.params.workspace,
        request.params.repository,
        request.query.suite,
      ),
    }),
  );

  app.get(
    `${base}/:repository/publications`,
    {
      schema: {
        tags,
        summary: 'The publication history, newest first',
        params: RepositoryParams,
        response: { 200: Type.Object({ items: Type.Array(Publication) }), ...errors },
      },
    },
    async (request) => ({
      items: await listPublications(
        deps,
        request.actor,
        request.params.workspace,
        request.params.repository,
      ),
    }),
  );

  app.get(
    `${base}/:repository/tree`,
    {
      schema: {
        tags,
        summary: 'Every file of the served tree (dists/ with by-hash, and pool/)',
        params: RepositoryParams,
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({ path: Type.String(), sha256: Type.String(), size: Type.Integer() }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request) => ({
      items: await listTree(
        deps,
        request.actor,
        request.params.workspace,
        request.params.repository,
      ),
    }),
  );

  app.get(
    `${base}/:repository/key`,
    {
      schema: {
        tags,
        summary: "The repository's public signing keys (armored)",
        params: RepositoryParams,
      },
    },
    async (request, reply) => {
      const { repository } = await authorizeRepository(
        deps.db,
        request.actor,
        request.params.workspace,
        request.params.repository,
        'read',
      );
      return reply
        .header('content-type', 'application/pgp-keys')
        .send(await repositoryPublicKeys(deps.db, deps.signer, repository.id));
    },
  );

  app.post(
    `${base}/:repository/keys/rotate`,
    {
      schema: {
        tags,
        summary: 'Make a new signing key; the old one keeps signing until retired (owner)',
        params: RepositoryParams,
        response: { 200: Repository, ...errors },
      },
    },
    async (request) =>
      rotateKey(deps, request.actor, request.params.workspace, request.params.repository),
  );

  app.post(
    `${base}/:repository/keys/retire`,
    {
      schema: {
        tags,
        summary: 'Stop signing with the retiring keys (owner)',
        params: RepositoryParams,
        response: { 200: Repository, ...errors },
      },
    },
    async (request) =>
      retireOldKeys(deps, request.actor, request.params.workspace, request.params.repository),
  );

  for (const [path, type, body, summary] of operations) {
    app.post(
      `${base}/:repository/${path}`,
      {
        schema: {
          tags,
          summary: `${summary} (a server-side task; writer)`,
          params: RepositoryParams,
          body,
          response: { 201: Task, ...errors },
        },
      },
      async (request, reply) =>
        reply
          .status(201)
          .send(
            await submitRepositoryTask(
              deps,
              request.actor,
              request.params.workspace,
              request.params.repository,
              type,
              request.body as Record<string, unknown>,
            ),
          ),
    );
  }
}
