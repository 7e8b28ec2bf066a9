import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Client } from '../../src/client/client.ts';
import type { Artifact } from '../../src/protocol/artifacts.schema.ts';
import type { Task } from '../../src/protocol/tasks.schema.ts';
import { createCluster, startInstance, type Cluster } from './cluster.ts';
import { ensureTestImage, testDistribution, testImageDir, testImages } from './debian-images.ts';
import { isOver, readTaskLog, submitTask, waitForTask } from './tasks.ts';

/** A real `kiln serve` and one real `kiln worker` that builds in the shared test images. */
export interface DebianFarm {
  readonly cluster: Cluster;
  readonly admin: Client;
  /** The admin's token, for a child `kiln` (a hook install, say). */
  readonly adminToken: string;
  /** A scratch directory for fixtures and downloads. */
  readonly root: string;
  /** Submits `debian:source` for a git URL and ref. */
  submitSource(url: string, ref: string): Promise<Task>;
  /** Submits `debian:binary` for `host` (cross when not amd64), fed by a source task's output. */
  submitBinary(source: { task: number } | { artifact: number }, host: string): Promise<Task>;
  /** Waits until the task has ended; builds may take minutes. */
  finished(task: Task): Promise<Task>;
  /**
   * Waits until an ended task's log is saved as an artifact: the server saves
   * it just after recording the end, so a poll may see the end first.
   */
  logSaved(task: Task): Promise<Task>;
  artifact(id: number): Promise<Artifact>;
  /** Downloads an artifact's file into `<scratch>/<artifact id>/`; returns its path. */
  download(artifact: number, path: string): Promise<string>;
  /** The task's whole log, with a reminder of it for failed assertions. */
  log(task: Task): Promise<string>;
  close(): Promise<void>;
}

export const workspace = 'rel';

/**
 * Starts the farm, once both test images exist (built on the first run on
 * this machine, shared afterwards). The worker keeps its own work directory
 * but builds in the shared images, so nothing is built twice.
 */
export async function startDebianFarm(name: string): Promise<DebianFarm> {
  await ensureTestImage(testImages.native);
  await ensureTestImage(testImages.cross);
  const cluster = await createCluster();
  try {
    const { server, admin, adminToken, enrolmentToken } = await startInstance(cluster, { name });
    await cluster.worker({
      name: `${name}-worker`,
      server: server.url,
      token: enrolmentToken,
      args: ['--image-dir', testImageDir],
    });
    const root = join(cluster.root, 'scratch');
    await mkdir(root, { recursive: true });
    return {
      cluster,
      admin,
      adminToken,
      root,
      submitSource: (url, ref) =>
        submitTask(admin, workspace, { type: 'debian:source', input: { url, ref } }),
      submitBinary(source, host) {
        const input = {
          distribution: testDistribution,
          build_architecture: 'amd64',
          host_architecture: host,
        };
        return 'artifact' in source
          ? submitTask(admin, workspace, {
              type: 'debian:binary',
              input: { ...input, source_artifact: source.artifact },
            })
          : submitTask(admin, workspace, {
              type: 'debian:binary',
              input,
              depends_on: [source.task],
              bindings: [{ field: 'source_artifact', task: source.task, output: 'artifact' }],
            });
      },
      finished: (task) =>
        waitForTask(admin, task.id, 'over', isOver, { timeoutMs: 900_000, intervalMs: 500 }),
      logSaved: (task) =>
        waitForTask(admin, task.id, 'log saved', (t) => isOver(t) && t.log_artifact !== null, {
          timeoutMs: 60_000,
          intervalMs: 200,
        }),
      artifact: (id) => admin.json<Artifact>('GET', `/api/v1/artifacts/${id}`),
      async download(artifact, path) {
        await mkdir(join(root, String(artifact)), { recursive: true });
        const target = join(root, String(artifact), path);
        const response = await admin.download(
          `/api/v1/artifacts/${artifact}/files/${encodeURIComponent(path)}`,
        );
        assert.equal(response.statusCode, 200, `downloading ${path} of artifact ${artifact}`);
        await pipeline(response, createWriteStream(target));
        return target;
      },
      log: (task) => readTaskLog(admin, task.id),
      close: () => cluster.close(),
    };
  } catch (error) {
    await cluster.close();
    throw error;
  }
}

/**
 * Asserts the task ended as `result`, showing its message and log otherwise;
 * returns its output (`{}` when it has none).
 */
export async function expectResult(
  farm: DebianFarm,
  task: Task,
  result: string,
): Promise<Readonly<Record<string, unknown>>> {
  if (task.state !== 'completed' || task.result !== result) {
    assert.fail(
      `task ${task.id} (${task.type}) ended ${task.state}/${task.result ?? '-'} (${task.message ?? ''}), not ${result}; its log:\n${(await farm.log(task)).slice(-4000)}`,
    );
  }
  return task.output ?? {};
}
