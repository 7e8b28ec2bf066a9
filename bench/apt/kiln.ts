import { writeFile } from 'node:fs/promises';
import { setImmediate } from 'node:timers/promises';
import { finished } from 'node:stream/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createClient, type Client } from '../../src/client/client.ts';
import { describeLocalFile, uploadMissing, type LocalFile } from '../../src/client/transfer.ts';
import type { Artifact } from '../../src/protocol/artifacts.schema.ts';
import type { Task } from '../../src/protocol/tasks.schema.ts';
import { progress } from '../support/console.ts';
import { startKilnServer, type KilnServer } from '../support/kiln-server.ts';
import {
  readCpuSecondsOfAll,
  readMemory,
  readThreadCpu,
  resetPeakMemory,
} from '../support/proc.ts';
import type { AptSource, RepoTool, StepUsage, ToolWork } from './tool.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const workspace = 'bench';
const repository = 'apt';
/** Files per artifact: each artifact's declaration stays well under the server's JSON limit. */
const filesPerArtifact = 2000;
/** Artifacts declared and uploaded at once, as a client with a couple of connections sends them. */
const uploadConcurrency = 2;

/** Where the benchmark makes its own database; `KILN_BENCH_DATABASE=pglite` runs on PGlite instead. */
const adminUrl = process.env['KILN_BENCH_POSTGRES'] ?? 'postgres://root@127.0.0.1:5432/postgres';
const databaseName = 'kiln_bench_apt';

/**
 * kiln as its users drive it, over its HTTP API: a `kiln serve` on a fresh
 * PostgreSQL database (or PGlite), a public workspace and a repository signed
 * with its own key; .debs uploaded as artifacts (declared in batches, the
 * uploads a few at a time), then one `include` task that reads them and
 * publishes; +1 is one artifact and one include, like `kiln repo add`.
 * The figures include hashing on the client, the uploads and waiting for
 * the task; peak RSS is the server process's.
 */
export function createKiln(): RepoTool {
  const onPglite = process.env['KILN_BENCH_DATABASE'] === 'pglite';
  let server: KilnServer | undefined;
  let client: Client | undefined;
  let work: ToolWork | undefined;

  const ready = () => {
    if (server === undefined || client === undefined || work === undefined) {
      throw new Error('kiln: setup has not run');
    }
    return { server, client, work };
  };
  /** Where the time of the last full ingest went, for the progress lines. */
  const phases: [string, number][] = [];
  /** The CPU time used so far by the server's threads, PostgreSQL and this process. */
  const cpuNow = async (): Promise<CpuUse> => {
    const client = process.cpuUsage();
    return {
      server: await readThreadCpu(ready().server.pid),
      postgres: onPglite ? 0 : await readCpuSecondsOfAll('postgres'),
      client: (client.user + client.system) / 1e6,
      wall: performance.now() / 1000,
    };
  };
  const repoPath = `/api/v1/workspaces/${workspace}/repositories/${repository}`;

  /** Runs `step`, and the server's peak RSS while it ran. */
  const measured = async (step: () => Promise<void>): Promise<StepUsage> => {
    const { server: running } = ready();
    await resetPeakMemory(running.pid);
    await step();
    return { peakRss: (await readMemory(running.pid)).peak };
  };

  /**
   * Declares the files as artifacts and uploads their content; returns the
   * artifact ids. Each batch is hashed, then declared and uploaded while the
   * next one is hashed, as a client sending many artifacts does.
   */
  const upload = async (debs: readonly string[], signal: AbortSignal): Promise<number[]> => {
    const { client: api } = ready();
    const started = performance.now();
    let hashing = 0;
    const describeBatch = async (paths: readonly string[]): Promise<LocalFile[]> => {
      const local: LocalFile[] = [];
      for (let i = 0; i < paths.length; i += 64) {
        const hashed = performance.now();
        local.push(
          ...(await Promise.all(
            paths
              .slice(i, i + 64)
              .map((deb) => describeLocalFile(deb.slice(deb.lastIndexOf('/') + 1), deb)),
          )),
        );
        hashing += performance.now() - hashed;
        // Hashing reads synchronously: the lanes' uploads go on in between.
        await setImmediate();
      }
      return local;
    };
    const batches: (readonly string[])[] = [];
    for (let i = 0; i < debs.length; i += filesPerArtifact) {
      batches.push(debs.slice(i, i + filesPerArtifact));
    }
    // Batches hashed one after the other, each as soon as the one before it is.
    const described: Promise<LocalFile[]>[] = [];
    for (const [index, batch] of batches.entries()) {
      described.push((described[index - 1] ?? Promise.resolve()).then(() => describeBatch(batch)));
    }
    for (const pending of described) {
      pending.catch(() => undefined);
    }
    const ids: number[] = new Array<number>(batches.length);
    const jobs = described.map((pending, index) => async () => {
      const batch = await pending;
      const artifact = await api.json<Artifact>(
        'POST',
        `/api/v1/workspaces/${workspace}/artifacts`,
        {
          type: 'debian:binary-packages',
          files: batch.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
        },
        { signal },
      );
      ids[index] = artifact.id;
      await uploadMissing(api, artifact.id, artifact.files, batch);
    });
    await inParallel(jobs, uploadConcurrency, signal);
    phases.push(
      ['hash + declare + upload', performance.now() - started],
      ['of which hashing', hashing],
    );
    return ids;
  };

  /** Submits a repository operation and waits for its task, as `kiln repo` does. */
  const operate = async (operation: string, body: unknown): Promise<void> => {
    const { client: api } = ready();
    const task = await api.json<Task>('POST', `${repoPath}/${operation}`, body);
    const log = await api.download(`/api/v1/tasks/${task.id}/log`, {
      accept: 'text/event-stream',
    });
    // The server ends the stream after its `end` event, when the task is over.
    log.resume();
    await finished(log);
    const ended = await api.json<Task>('GET', `/api/v1/tasks/${task.id}`);
    if (!(ended.state === 'completed' && ended.result === 'success')) {
      throw new Error(`${operation}: ${ended.state} ${ended.result ?? ''}: ${ended.message ?? ''}`);
    }
  };

  return {
    name: 'kiln',
    summary: `kiln serve on ${onPglite ? 'PGlite' : 'PostgreSQL'}: .debs uploaded as artifacts over HTTP + one include task (reads control data, publishes); +1: artifact + include; no-change: publish. By-hash, signed by its own key`,
    async setup(given): Promise<AptSource> {
      work = given;
      let databaseUrl: string | undefined;
      if (!onPglite) {
        await recreateDatabase(adminUrl, databaseName);
        const url = new URL(adminUrl);
        url.pathname = `/${databaseName}`;
        databaseUrl = url.href;
      }
      server = await startKilnServer(repoRoot, join(given.dir, 'data'), {
        ...(databaseUrl === undefined ? {} : { databaseUrl }),
      });
      client = createClient(server.url, server.token);
      await client.json('POST', '/api/v1/workspaces', { name: workspace, public: true });
      const { layout } = given;
      await client.json('POST', `/api/v1/workspaces/${workspace}/repositories`, {
        name: repository,
        suites: [
          {
            codename: layout.suite,
            components: [layout.component],
            // kiln lists `all` packages in every architecture's Packages.
            architectures: layout.architectures.filter((a) => a !== 'all'),
          },
        ],
      });
      const uri = `${server.url}/repos/${workspace}/${repository}`;
      const key = await fetch(`${uri}/key.asc`);
      if (!key.ok) {
        throw new Error(`key.asc: HTTP ${key.status}`);
      }
      const signedBy = join(given.dir, 'key.asc');
      await writeFile(signedBy, await key.text());
      return { uri, signedBy };
    },
    fullPublish: (debs, signal) =>
      measured(async () => {
        phases.length = 0;
        const beforeUpload = await cpuNow();
        const artifacts = await upload(debs, signal);
        const beforeInclude = await cpuNow();
        const included = performance.now();
        await operate('include', { suite: ready().work.layout.suite, artifacts });
        phases.push(['include + publish', performance.now() - included]);
        const after = await cpuNow();
        progress(
          `kiln: full ingest by phase: ${phases.map(([name, ms]) => `${name} ${(ms / 1000).toFixed(2)} s`).join(', ')}`,
        );
        progress(`kiln: CPU of the upload: ${describeCpu(beforeUpload, beforeInclude)}`);
        progress(`kiln: CPU of include + publish: ${describeCpu(beforeInclude, after)}`);
      }),
    addOne: (deb, signal) =>
      measured(async () => {
        phases.length = 0;
        const artifacts = await upload([deb], signal);
        const included = performance.now();
        await operate('include', { suite: ready().work.layout.suite, artifacts });
        phases.push(['include + publish', performance.now() - included]);
        progress(
          `kiln: +1 by phase: ${phases.map(([name, ms]) => `${name} ${ms.toFixed(1)} ms`).join(', ')}`,
        );
      }),
    republish: () =>
      measured(async () => {
        await operate('publish', {});
      }),
    async cleanup() {
      await server?.[Symbol.asyncDispose]();
      server = undefined;
      client = undefined;
      if (!onPglite && work !== undefined) {
        await dropDatabase(adminUrl, databaseName);
      }
      work = undefined;
    },
  };
}

/** CPU seconds used so far, and the time they were read at (seconds). */
interface CpuUse {
  /** By thread name (see readThreadCpu). */
  readonly server: ReadonlyMap<string, number>;
  readonly postgres: number;
  /** This process: the client hashing and uploading. */
  readonly client: number;
  readonly wall: number;
}

const threadLabels: Readonly<Record<string, string>> = {
  main: 'server main thread',
  V8Worker: "V8's threads (GC, compiling)",
  WorkerThread: 'worker threads (.deb reading)',
  'libuv-worker': "libuv's threads (gzip)",
};

/**
 * Where the CPU time between two readings went, with the total: more than
 * the wall time means several cores at work (a 2-core machine can give at
 * most twice it).
 */
function describeCpu(before: CpuUse, after: CpuUse): string {
  const used: [string, number][] = [];
  let other = 0;
  for (const [name, seconds] of after.server) {
    const spent = seconds - (before.server.get(name) ?? 0);
    const label = threadLabels[name];
    if (label === undefined) {
      other += spent;
    } else {
      used.push([label, spent]);
    }
  }
  used.push(
    ['other server threads', other],
    ['PostgreSQL', after.postgres - before.postgres],
    ['bench client', after.client - before.client],
  );
  const total = used.reduce((sum, [, seconds]) => sum + seconds, 0);
  const parts = used.filter(([, s]) => s > 0).map(([label, s]) => `${label} ${s.toFixed(2)}`);
  return `${total.toFixed(2)} s in ${(after.wall - before.wall).toFixed(2)} s of wall time (${parts.join(', ')})`;
}

async function inParallel(
  jobs: readonly (() => Promise<unknown>)[],
  concurrency: number,
  signal: AbortSignal,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      signal.throwIfAborted();
      const job = jobs[next++];
      await job?.();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

async function withAdmin(adminUrl: string, use: (db: pg.Client) => Promise<void>): Promise<void> {
  const db = new pg.Client({ connectionString: adminUrl });
  await db.connect();
  try {
    await use(db);
  } finally {
    await db.end();
  }
}

async function recreateDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, async (db) => {
    await db.query(`drop database if exists ${name} with (force)`);
    await db.query(`create database ${name}`);
  });
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, async (db) => {
    await db.query(`drop database if exists ${name} with (force)`);
  });
}
