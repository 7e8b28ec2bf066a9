import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { listStoredContents } from '../../src/server/files/fs-file-store.ts';
import type { Api, ApiResponse } from './api.ts';
import type { TestServer } from './server.ts';

/** The sha256 of `content`, lower-case hex, as kiln names content. */
export function sha256Of(content: Buffer | string): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Content no other test uses: `size` random bytes. */
export function uniqueContent(size = 64): Buffer {
  return randomBytes(size);
}

/** A file declaration for `content` under `path`. */
export function declare(path: string, content: Buffer) {
  return { path, size: content.length, sha256: sha256Of(content) };
}

/** The URL path of an artifact file: each segment percent-encoded, `/` kept. */
export function fileUrl(id: number, path: string): string {
  return `/api/v1/artifacts/${id}/files/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** Asserts the response's status, showing its body when it is not. */
export function expectStatus(response: ApiResponse, status: number): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
}

/**
 * Asserts an error response: its status, its code, and that its body is exactly
 * `{"error":{"code","message"}}` with a non-empty message.
 */
export function expectError(response: ApiResponse, status: number, code: string): void {
  expectStatus(response, status);
  assert.deepEqual(Object.keys(response.body as object), ['error']);
  assert.deepEqual(Object.keys(response.body.error as object).sort(), ['code', 'message']);
  assert.equal(response.body.error.code, code);
  assert.equal(typeof response.body.error.message, 'string');
  assert.notEqual(response.body.error.message, '');
}

export async function createWorkspace(
  api: Api,
  name: string,
  options: { public?: boolean; default_expiration?: number | null } = {},
): Promise<void> {
  expectStatus(await api.post('/api/v1/workspaces', { name, ...options }), 201);
}

/** Creates an artifact; returns the created artifact as the server describes it. */
export async function createArtifact(
  api: Api,
  workspace: string,
  body: Record<string, unknown>,
): Promise<any> /* eslint-disable-line @typescript-eslint/no-explicit-any -- an Artifact as JSON */ {
  const response = await api.post(`/api/v1/workspaces/${workspace}/artifacts`, body);
  expectStatus(response, 201);
  return response.body;
}

/** Uploads the content of a declared file and asserts it is then complete. */
export async function uploadFile(
  api: Api,
  id: number,
  path: string,
  content: Buffer,
): Promise<void> {
  const response = await api.put(fileUrl(id, path), content, {
    'content-type': 'application/octet-stream',
  });
  expectStatus(response, 200);
  assert.equal(response.body.complete, true);
}

/** Creates an artifact of one file and uploads it; returns the artifact's id. */
export async function createUploadedArtifact(
  api: Api,
  workspace: string,
  path: string,
  content: Buffer,
  extra: Record<string, unknown> = {},
): Promise<number> {
  const artifact = await createArtifact(api, workspace, {
    type: 'test',
    files: [declare(path, content)],
    ...extra,
  });
  await uploadFile(api, artifact.id as number, path, content);
  return artifact.id as number;
}

/** Names of the files directly or deeply under `dir` (none if it is absent). */
async function listFilesDeep(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(
    (error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return [];
      }
      throw error;
    },
  );
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

/** The sha256s of the contents in a server's file store (as files or in packs), read from disk. */
export function listBlobs(server: TestServer): Promise<string[]> {
  return listStoredContents(join(server.dataDir, 'files'));
}

/** The files in a server's staging area (uploads in progress or left behind). */
export function listStaged(server: TestServer): Promise<string[]> {
  return listFilesDeep(join(server.dataDir, 'files', 'staging'));
}

/**
 * Waits until `condition` holds, checking every 20 ms; fails after `limitMs`.
 * For effects of a request the server finishes after the client has gone.
 */
export async function waitUntil(
  what: string,
  condition: () => Promise<boolean>,
  limitMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting until ${what}`);
    }
    await sleep(20);
  }
}

/** A response received over a real socket, body included. */
export interface SocketResponse {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/**
 * Starts a request to the server over a real TCP socket. Without a
 * `content-length` header, node sends the body chunked.
 */
export function openRequest(
  server: TestServer,
  method: string,
  path: string,
  headers: Record<string, string>,
): { request: ClientRequest; response: Promise<SocketResponse> } {
  // No keep-alive agent: a connection must not outlive its test's server.
  const request = httpRequest(new URL(path, server.url), { method, headers, agent: false });
  const response = new Promise<SocketResponse>((resolve, reject) => {
    request.on('error', reject);
    request.on('response', (message) => {
      const chunks: Buffer[] = [];
      message.on('data', (chunk: Buffer) => chunks.push(chunk));
      message.on('error', reject);
      message.on('end', () => {
        // The server may answer before the body is all sent (an upload it refuses).
        request.destroy();
        resolve({
          status: message.statusCode ?? 0,
          headers: message.headers,
          body: Buffer.concat(chunks),
        });
      });
    });
  });
  return { request, response };
}
