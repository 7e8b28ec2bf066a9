import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { KilnError } from '../../../protocol/errors.ts';
import type { Db } from '../../db/connect.ts';
import type { FileStore } from '../../files/file-store.ts';
import { replyWithStoredFile } from '../../http/stored-file-reply.ts';
import type { App } from '../../http/types.ts';
import {
  authorizeRepository,
  repositoryPublicKeys,
  type RepositoryDeps,
} from './repository.service.ts';

/** `dists/.../by-hash/SHA256/<64 hex>` or `.../SHA512/<128 hex>` (what the Release lists). */
const byHash = /^(dists\/.+)\/by-hash\/(?:SHA256\/([0-9a-f]{64})|SHA512\/([0-9a-f]{128}))$/;

/** How long a client may reuse each kind of file (by-hash files never change). */
function cacheControl(path: string, isPrivate: boolean): string {
  const scope = isPrivate ? 'private' : 'public';
  if (byHash.test(path) || path.startsWith('pool/')) {
    return `${scope}, max-age=31536000, immutable`;
  }
  return `${scope}, max-age=0, must-revalidate`;
}

async function findPublicationFile(
  db: Db,
  repositoryId: number,
  publicationId: number | null,
  path: string,
) {
  const hashed = byHash.exec(path);
  if (hashed?.[1] !== undefined) {
    // By hash: from any publication still kept, so a client that read an
    // earlier InRelease finds the indices it names (apt's Acquire-By-Hash).
    const dir = `${hashed[1]}/`;
    const [column, digest] =
      hashed[2] === undefined
        ? (['f.sha512', hashed[3]] as const)
        : (['f.sha256', hashed[2]] as const);
    return db
      .selectFrom('apt_publication_files as f')
      .innerJoin('apt_publications as p', 'p.id', 'f.publication_id')
      .select(['f.sha256', 'f.size', 'f.parts'])
      .where('p.repository_id', '=', repositoryId)
      .where(column, '=', digest ?? '')
      .where('f.path', 'like', `${dir.replace(/[\\%_]/g, '\\$&')}%`)
      .limit(1)
      .executeTakeFirst();
  }
  if (publicationId === null) {
    return undefined;
  }
  return db
    .selectFrom('apt_publication_files')
    .select(['sha256', 'size', 'parts'])
    .where('publication_id', '=', publicationId)
    .where('path', '=', path)
    .executeTakeFirst();
}

/**
 * Replies with a file stored as parts (an index, as its chunks): whole, with
 * its sha256 as a strong ETag; a Range is ignored (RFC 9110 §14.2 allows it),
 * apt fetches indices whole.
 */
async function replyWithParts(
  request: FastifyRequest,
  reply: FastifyReply,
  store: FileStore,
  file: { sha256: string; size: number; parts: readonly string[]; cacheControl: string },
): Promise<FastifyReply> {
  const etag = `"${file.sha256}"`;
  void reply
    .header('accept-ranges', 'none')
    .header('etag', etag)
    .header('cache-control', file.cacheControl)
    .header('content-type', 'application/octet-stream');
  if (request.headers['if-none-match'] === etag) {
    return reply.status(304).send();
  }
  // The parts stay stored as long as a kept publication names them (see the
  // garbage collector), so they are opened one at a time as the body goes out.
  async function* concatenated(): AsyncGenerator<Buffer> {
    for (const part of file.parts) {
      for await (const chunk of await store.openRead(part)) {
        yield chunk as Buffer;
      }
    }
  }
  return reply.header('content-length', file.size).send(Readable.from(concatenated()));
}

/**
 * Serves repositories as apt reads them, at /repos/<workspace>/<repository>/:
 * dists/ from the current publication (and by hash from every kept one),
 * pool/ from the stored packages, `key.asc` for `signed-by`, and earlier
 * publications at /repos/<workspace>/<repository>/publications/<n>/dists/.
 * A private workspace's repositories need a token (HTTP basic auth, as apt's
 * auth.conf sends it) and are a 404 to anyone else.
 */
export function registerRepositoryServing(app: App, deps: RepositoryDeps): void {
  app.get(
    '/repos/:workspace/:repository/*',
    {
      schema: {
        hide: true,
        params: Type.Object({
          workspace: Type.String(),
          repository: Type.String(),
          '*': Type.String(),
        }),
      },
    },
    async (request, reply) => {
      const { workspace, repository: name } = request.params;
      const path = request.params['*'];
      const { access, repository } = await authorizeRepository(
        deps.db,
        request.actor,
        workspace,
        name,
        'read',
      );
      const isPrivate = !access.workspace.public;
      if (path === 'key.asc') {
        return reply
          .header('content-type', 'application/pgp-keys')
          .header('cache-control', cacheControl(path, isPrivate))
          .send(await repositoryPublicKeys(deps.db, deps.signer, repository.id));
      }
      let file: { sha256: string; size: number; parts?: readonly string[] | null } | undefined;
      const pinned = /^publications\/(\d+)\/(dists\/.+)$/.exec(path);
      if (pinned?.[1] !== undefined && pinned[2] !== undefined) {
        const publication = await deps.db
          .selectFrom('apt_publications')
          .select('id')
          .where('repository_id', '=', repository.id)
          .where('number', '=', Number(pinned[1]))
          .executeTakeFirst();
        file =
          publication === undefined
            ? undefined
            : await findPublicationFile(deps.db, repository.id, publication.id, pinned[2]);
      } else if (path.startsWith('dists/')) {
        file = await findPublicationFile(
          deps.db,
          repository.id,
          repository.current_publication_id,
          path,
        );
      } else if (path.startsWith('pool/')) {
        file = await deps.db
          .selectFrom('apt_pool')
          .select(['sha256', 'size'])
          .where('repository_id', '=', repository.id)
          .where('path', '=', path)
          .executeTakeFirst();
      }
      if (file === undefined) {
        throw new KilnError('not_found', `${path} is not in repository ${workspace}/${name}`);
      }
      if (file.parts !== undefined && file.parts !== null) {
        return replyWithParts(request, reply, deps.store, {
          sha256: file.sha256,
          size: file.size,
          parts: file.parts,
          cacheControl: cacheControl(path, isPrivate),
        });
      }
      return replyWithStoredFile(request, reply, deps.store, {
        ...file,
        name: path,
        contentType: path.endsWith('.deb')
          ? 'application/vnd.debian.binary-package'
          : 'application/octet-stream',
        cacheControl: cacheControl(path, isPrivate),
      });
    },
  );
}
