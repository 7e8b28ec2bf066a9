import { createHash, randomBytes } from 'node:crypto';
import { apiAs, createUserWithToken, type Api, type ApiResponse } from './api.ts';
import type { TestServer } from './server.ts';

/** Who calls, in the permission matrix. */
export const actorNames = [
  'anonymous',
  'guest',
  'non-member',
  'viewer',
  'uploader',
  'writer',
  'owner',
  'admin',
] as const;
export type ActorName = (typeof actorNames)[number];

export type Visibility = 'public' | 'private';

/** The users of the matrix, made once per server: a token for each but anonymous. */
export interface Cast {
  readonly server: TestServer;
  /** The actor's token; `undefined` for anonymous. */
  readonly tokens: Readonly<Record<ActorName, string | undefined>>;
  /** The actor's API client. */
  as(actor: ActorName): Api;
}

/** A user with a password and no role in any workspace, for logging in. */
export const loginUser = Object.freeze({ username: 'login-user', password: 'login-password' });

/**
 * Creates the users: a guest, and developers for non-member, viewer, uploader,
 * writer and owner (the workspace roles are given per fixture), and `loginUser`.
 * Admin is the server's bootstrap admin, with its first token (scopes read,
 * write, admin).
 */
export async function createCast(server: TestServer): Promise<Cast> {
  const tokens: Record<ActorName, string | undefined> = {
    anonymous: undefined,
    guest: await createUserWithToken(server, 'guest', 'guest'),
    'non-member': await createUserWithToken(server, 'non-member'),
    viewer: await createUserWithToken(server, 'viewer'),
    uploader: await createUserWithToken(server, 'uploader'),
    writer: await createUserWithToken(server, 'writer'),
    owner: await createUserWithToken(server, 'owner'),
    admin: server.adminToken,
  };
  await expectStatus(apiAs(server, server.adminToken).post('/api/v1/users', loginUser), 201);
  return { server, tokens, as: (actor) => apiAs(server, tokens[actor]) };
}

let nameCount = 0;

/** A name no other call of this process got. */
export function freshName(prefix: string): string {
  nameCount += 1;
  return `${prefix}-${nameCount}`;
}

/** Creates a developer (without password or token), as the admin; returns its name. */
export async function freshUser(cast: Cast): Promise<string> {
  const username = freshName('matrix-user');
  await expectStatus(cast.as('admin').post('/api/v1/users', { username }), 201);
  return username;
}

/** A file of an artifact fixture, with its content. */
export interface FileFixture {
  readonly path: string;
  readonly content: Buffer;
  readonly sha256: string;
}

/** The creators of the artifacts a fixture holds: "changes its own" needs both. */
export type Creator = 'uploader' | 'owner';

export interface ArtifactFixture {
  readonly id: number;
  /** Uploaded: downloadable, removable. */
  readonly done: FileFixture;
  /** Declared and not uploaded yet. */
  readonly pending: FileFixture;
}

/**
 * A workspace with viewer, uploader, writer and owner as members; a `base`
 * artifact (by the owner) and one artifact by each creator, each with a
 * `relates-to` relation to `base`, an uploaded file and a pending one.
 */
export interface WorkspaceFixture {
  readonly workspace: string;
  readonly base: number;
  readonly artifacts: Readonly<Record<Creator, ArtifactFixture>>;
}

/** A fixture of names and ids that exist nowhere: what a hidden one must look like. */
export const ghostFixture: WorkspaceFixture = Object.freeze({
  workspace: 'ghost-workspace',
  base: 999_999_001,
  artifacts: {
    owner: { id: 999_999_002, done: newFile('done.txt'), pending: newFile('pending.txt') },
    uploader: { id: 999_999_003, done: newFile('done.txt'), pending: newFile('pending.txt') },
  },
});

/** Builds a fresh workspace fixture, so that a cell's changes touch no other cell. */
export async function createWorkspaceFixture(
  cast: Cast,
  visibility: Visibility,
): Promise<WorkspaceFixture> {
  const owner = cast.as('owner');
  const workspace = freshName(`perm-${visibility}`);
  await expectStatus(
    owner.post('/api/v1/workspaces', { name: workspace, public: visibility === 'public' }),
    201,
  );
  for (const role of ['viewer', 'uploader', 'writer'] as const) {
    await expectStatus(owner.put(`/api/v1/workspaces/${workspace}/members/${role}`, { role }), 200);
  }
  const base = await expectStatus(
    owner.post(`/api/v1/workspaces/${workspace}/artifacts`, { type: 'example' }),
    201,
  );
  const baseId = base.body.id as number;
  return {
    workspace,
    base: baseId,
    artifacts: {
      owner: await createArtifactFixture(owner, workspace, baseId),
      uploader: await createArtifactFixture(cast.as('uploader'), workspace, baseId),
    },
  };
}

async function createArtifactFixture(
  api: Api,
  workspace: string,
  base: number,
): Promise<ArtifactFixture> {
  const done = newFile('done.txt');
  const pending = newFile('pending.txt');
  const created = await expectStatus(
    api.post(`/api/v1/workspaces/${workspace}/artifacts`, {
      type: 'example',
      files: [declaration(done), declaration(pending)],
      relations: [{ type: 'relates-to', target: base }],
    }),
    201,
  );
  const id = created.body.id as number;
  await expectStatus(uploadFile(api, id, done), 200);
  return { id, done, pending };
}

/** A file with random content, so that no other artifact's copy completes it. */
export function newFile(path: string): FileFixture {
  const content = randomBytes(32);
  return { path, content, sha256: createHash('sha256').update(content).digest('hex') };
}

/** The body that declares a file on an artifact. */
export function declaration(file: FileFixture): { path: string; size: number; sha256: string } {
  return { path: file.path, size: file.content.length, sha256: file.sha256 };
}

export function uploadFile(api: Api, id: number, file: FileFixture): Promise<ApiResponse> {
  return api.put(`/api/v1/artifacts/${id}/files/${file.path}`, file.content, {
    'content-type': 'application/octet-stream',
  });
}

/** Awaits a set-up call and fails loudly unless it answered `status`. */
export async function expectStatus(
  pending: Promise<ApiResponse>,
  status: number,
): Promise<ApiResponse> {
  const response = await pending;
  if (response.status !== status) {
    throw new Error(`set-up call: ${response.status} ${JSON.stringify(response.body)}`);
  }
  return response;
}
