/**
 * Driving APT repositories through the API in tests: upload .debs as an
 * artifact, submit a change (a server-side task) and wait for its end.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Api } from '../helpers/api.ts';
import { createArtifact, declare, expectStatus, uploadFile } from '../helpers/artifacts.ts';
import { waitUntil } from '../helpers/waits.ts';

export const repoPath = (workspace: string, repository: string) =>
  `/api/v1/workspaces/${workspace}/repositories/${repository}`;

/** Uploads package files as one artifact of `type`; returns its id. */
export async function uploadDebs(
  api: Api,
  workspace: string,
  files: readonly string[],
  type = 'debian:binary-packages',
): Promise<number> {
  const contents = await Promise.all(files.map((f) => readFile(f)));
  const artifact = await createArtifact(api, workspace, {
    type,
    files: files.map((f, i) => declare(basename(f), contents[i] ?? Buffer.alloc(0))),
  });
  for (const [i, f] of files.entries()) {
    await uploadFile(api, artifact.id as number, basename(f), contents[i] ?? Buffer.alloc(0));
  }
  return artifact.id as number;
}

/** As `uploadDebs`, to a server in another process. */
export async function uploadOverHttp(
  url: string,
  token: string,
  workspace: string,
  files: readonly string[],
): Promise<number> {
  const contents = await Promise.all(files.map((f) => readFile(f)));
  const headers = { authorization: `Bearer ${token}` };
  const created = await fetch(`${url}/api/v1/workspaces/${workspace}/artifacts`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({
      type: 'debian:binary-packages',
      files: files.map((f, i) => declare(basename(f), contents[i] ?? Buffer.alloc(0))),
    }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  const { id } = (await created.json()) as { id: number };
  for (const [i, f] of files.entries()) {
    const put = await fetch(`${url}/api/v1/artifacts/${id}/files/${basename(f)}`, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: contents[i] ?? Buffer.alloc(0),
    });
    assert.equal(put.status, 200, await put.text());
  }
  return id;
}

export interface EndedTask {
  readonly id: number;
  readonly state: string;
  readonly result: string | null;
  readonly message: string | null;
  readonly output: Record<string, unknown> | null;
}

/** Submits a repository change and waits for its task to end. */
export async function operate(
  api: Api,
  workspace: string,
  repository: string,
  operation: string,
  body: Record<string, unknown>,
): Promise<EndedTask> {
  const submitted = await api.post(`${repoPath(workspace, repository)}/${operation}`, body);
  expectStatus(submitted, 201);
  const id = submitted.body.id as number;
  return waitUntil(
    `task ${id} (${operation}) to end`,
    async () => {
      const shown = await api.get(`/api/v1/tasks/${id}`);
      expectStatus(shown, 200);
      const task = shown.body as EndedTask;
      return task.state === 'completed' || task.state === 'cancelled' ? task : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 20 },
  );
}

/** Submits a change and asserts it succeeded; returns the publication it made. */
export async function change(
  api: Api,
  workspace: string,
  repository: string,
  operation: string,
  body: Record<string, unknown>,
): Promise<number> {
  const task = await operate(api, workspace, repository, operation, body);
  assert.equal(task.result, 'success', `${operation}: ${task.message ?? ''}`);
  return task.output?.['publication'] as number;
}

/** The repository's packages as "suite package version arch" lines, sorted. */
export async function packageLines(
  api: Api,
  workspace: string,
  repository: string,
): Promise<string[]> {
  const listed = await api.get(`${repoPath(workspace, repository)}/packages`);
  expectStatus(listed, 200);
  return (
    listed.body.items as { suite: string; package: string; version: string; architecture: string }[]
  )
    .map((p) => `${p.suite} ${p.package} ${p.version} ${p.architecture}`)
    .sort();
}

/** The number of the current publication. */
export async function currentPublication(
  api: Api,
  workspace: string,
  repository: string,
): Promise<number> {
  const shown = await api.get(repoPath(workspace, repository));
  expectStatus(shown, 200);
  return shown.body.publication as number;
}
