import {
  Artifact,
  ArtifactFile,
  ArtifactSummary,
  CreateArtifactBody,
  FileDeclaration,
  FileParams,
  GcResult,
  ListArtifactsQuery,
  RelationBody,
  RelationParams,
  UpdateArtifactBody,
} from '../../protocol/artifacts.schema.ts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { FileStore } from '../files/file-store.ts';
import { ErrorResponse, IdParams, Page } from '../../protocol/common.schema.ts';
import { WorkspaceParams } from '../../protocol/workspaces.schema.ts';
import { requireAdmin } from '../auth/auth.service.ts';
import type { App } from '../http/types.ts';
import { replyWithStoredFile } from '../http/stored-file-reply.ts';
import { collectGarbage } from './gc.ts';
import type { ArtifactDeps } from './artifact-change.ts';
import { attachFile, detachFile, findDownloadableFile } from './artifact-files.service.ts';
import { addRelation, removeRelation } from './artifact-relations.service.ts';
import { uploadContents, uploadFile } from './artifact-uploads.service.ts';
import { showArtifact } from './artifact-views.ts';
import {
  createArtifact,
  listArtifacts,
  removeArtifact,
  updateArtifactFields,
} from './artifact.service.ts';

const errors = { '4xx': ErrorResponse };
const tags = ['artifacts'];

export function registerArtifactRoutes(app: App, deps: ArtifactDeps): void {
  app.get(
    '/api/v1/workspaces/:workspace/artifacts',
    {
      schema: {
        tags,
        summary: "A workspace's artifacts, newest first",
        params: WorkspaceParams,
        querystring: ListArtifactsQuery,
        response: { 200: Page(ArtifactSummary), ...errors },
      },
    },
    async (request) => listArtifacts(deps, request.actor, request.params.workspace, request.query),
  );

  app.post(
    '/api/v1/workspaces/:workspace/artifacts',
    {
      schema: {
        tags,
        summary: 'Create an artifact; then upload the content of its incomplete files',
        params: WorkspaceParams,
        body: CreateArtifactBody,
        response: { 201: Artifact, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await createArtifact(deps, request.actor, request.params.workspace, request.body)),
  );

  app.get(
    '/api/v1/artifacts/:id',
    {
      schema: {
        tags,
        summary: 'An artifact',
        params: IdParams,
        response: { 200: Artifact, ...errors },
      },
    },
    async (request) => showArtifact(deps, request.actor, request.params.id),
  );

  app.patch(
    '/api/v1/artifacts/:id',
    {
      schema: {
        tags,
        summary: "Set an artifact's data or expiry, or make it immutable",
        params: IdParams,
        body: UpdateArtifactBody,
        response: { 200: Artifact, ...errors },
      },
    },
    async (request) => updateArtifactFields(deps, request.actor, request.params.id, request.body),
  );

  app.delete(
    '/api/v1/artifacts/:id',
    {
      schema: { tags, summary: 'Delete an artifact no other artifact refers to', params: IdParams },
    },
    async (request, reply) => {
      await removeArtifact(deps, request.actor, request.params.id);
      return reply.status(204).send();
    },
  );

  app.post(
    '/api/v1/artifacts/:id/files',
    {
      schema: {
        tags,
        summary: 'Attach a file (declare its path, size and sha256; then upload it)',
        params: IdParams,
        body: FileDeclaration,
        response: { 201: ArtifactFile, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await attachFile(deps, request.actor, request.params.id, request.body)),
  );

  app.delete(
    '/api/v1/artifacts/:id/files/*',
    { schema: { tags, summary: 'Remove a file from an artifact', params: FileParams } },
    async (request, reply) => {
      await detachFile(deps, request.actor, request.params.id, request.params['*']);
      return reply.status(204).send();
    },
  );

  app.get(
    '/api/v1/artifacts/:id/files/*',
    {
      schema: {
        tags,
        summary: "Download a file's content (HTTP Range supported)",
        params: FileParams,
      },
    },
    async (request, reply) => {
      const file = await findDownloadableFile(
        deps,
        request.actor,
        request.params.id,
        request.params['*'],
      );
      return replyWithArtifactFile(request, reply, deps.store, file);
    },
  );

  app.register((scope: App, _options, done) => {
    // Uploads are streamed to the file store as they arrive, never parsed or buffered.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, parsed) => {
      parsed(null, payload);
    });
    scope.put(
      '/api/v1/artifacts/:id/files/*',
      {
        schema: {
          tags,
          summary: "Upload a declared file's content (checked against its size and sha256)",
          params: FileParams,
          response: { 200: ArtifactFile, ...errors },
        },
      },
      async (request) => {
        const length = request.headers['content-length'];
        return uploadFile(
          deps,
          request.actor,
          request.params.id,
          request.params['*'],
          request.raw,
          {
            contentLength: length === undefined ? undefined : Number(length),
          },
        );
      },
    );
    scope.put(
      '/api/v1/artifacts/:id/content',
      {
        schema: {
          tags,
          summary:
            "Upload the contents of all the artifact's incomplete files at once: each distinct content once, in the order the artifact lists its files, one after the other",
          params: IdParams,
          response: { 200: Type.Object({ files: Type.Array(ArtifactFile) }), ...errors },
        },
      },
      async (request) => {
        const length = request.headers['content-length'];
        return {
          files: await uploadContents(deps, request.actor, request.params.id, request.raw, {
            contentLength: length === undefined ? undefined : Number(length),
          }),
        };
      },
    );
    done();
  });

  app.post(
    '/api/v1/artifacts/:id/relations',
    {
      schema: {
        tags,
        summary: 'Add a relation to another artifact',
        params: IdParams,
        body: RelationBody,
        response: { 201: Artifact, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await addRelation(deps, request.actor, request.params.id, request.body)),
  );

  app.delete(
    '/api/v1/artifacts/:id/relations/:type/:target',
    { schema: { tags, summary: 'Remove a relation', params: RelationParams } },
    async (request, reply) => {
      await removeRelation(deps, request.actor, request.params.id, {
        type: request.params.type,
        target: request.params.target,
      });
      return reply.status(204).send();
    },
  );

  app.post(
    '/api/v1/admin/gc',
    {
      schema: {
        tags: ['admin'],
        summary: 'Collect garbage now: expired artifacts, then unused files (admin)',
        response: { 200: GcResult, ...errors },
      },
    },
    async (request) => {
      requireAdmin(request.actor);
      return collectGarbage(deps.db, deps.store);
    },
  );
}

/** Sends an artifact's file as a download (the API's and the web UI's). */
export function replyWithArtifactFile(
  request: FastifyRequest,
  reply: FastifyReply,
  store: FileStore,
  file: ArtifactFile,
): Promise<FastifyReply | undefined> {
  return replyWithStoredFile(request, reply, store, {
    sha256: file.sha256,
    size: file.size,
    name: file.path,
    contentType: 'application/octet-stream',
    cacheControl: 'private, max-age=0, must-revalidate',
    disposition: contentDisposition(file.path),
  });
}

/** A Content-Disposition header for a file's base name (RFC 6266, RFC 8187). */
function contentDisposition(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
