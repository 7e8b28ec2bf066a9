import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { it } from 'node:test';
import { createClient, type Client } from '../../src/client/client.ts';
import type { CreatedToken } from '../../src/protocol/tokens.schema.ts';
import { openDatabase, type OpenDatabase } from '../../src/server/db/connect.ts';
import { onPostgres } from './databases.ts';
import { childEnv, freePort, startKiln, type KilnProcess } from './processes.ts';
import { killTaskGroup, listTaskGroups } from './process-tree.ts';
import { createFreshSchema, type FreshSchema } from './schemas.ts';
import { waitUntil } from './waits.ts';

/** A `kiln serve` process. */
export interface ServeProcess {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly process: KilnProcess;
  /** The admin token, printed when this start created the instance. */
  readonly adminToken: string | undefined;
}

export interface ServeOptions {
  /** Names its data directory under the cluster's root (reuse it to restart). */
  readonly name: string;
  /** Default: a free port. */
  readonly port?: number;
  /** A PostgreSQL URL (with `search_path`); default: PGlite in the data directory. */
  readonly database?: string;
  readonly leaseTimeout?: number;
  /** Whether this start creates the instance: then it waits for the admin token. */
  readonly fresh?: boolean;
}

export interface WorkerOptions {
  readonly name: string;
  readonly server: string;
  /** An enrolment token. */
  readonly token: string;
  readonly drainTimeout?: number;
  /** Seconds one long poll for a task lasts. */
  readonly pollWait?: number;
  /** More `kiln worker` options (`--image-dir DIR`, say). */
  readonly args?: readonly string[];
}

/**
 * Real `kiln serve` and `kiln worker` processes under one scratch directory.
 * `close` SIGKILLs every process it started that still runs, with the task
 * process groups of its workers (and any group `adoptTaskGroup` was given), and
 * removes the directory: call it in `after`, so nothing outlives a failed test.
 */
export interface Cluster {
  readonly root: string;
  serve(options: ServeOptions): Promise<ServeProcess>;
  /** Starts a worker and waits until it has enrolled. */
  worker(options: WorkerOptions): Promise<KilnProcess>;
  /** SIGKILLs a process it started, and the task groups it leads; waits for its end. */
  crash(process: KilnProcess): Promise<void>;
  /** Remembers a task's process group, to kill at `close` if it still runs. */
  adoptTaskGroup(pgid: number): void;
  close(): Promise<void>;
}

const tokenLine = /Its token \(shown once\):\n {2}(kiln_p_\S+)\n/;

export async function createCluster(): Promise<Cluster> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-reliability-'));
  const started = new Set<KilnProcess>();
  const groups = new Set<number>();
  const logLevel = process.env['KILN_TEST_LOG'] ?? 'warn';

  async function crash(running: KilnProcess): Promise<void> {
    const { pid, exitCode, signalCode } = running.child;
    // Only a process still running is ours: an ended one's id may be someone else's now.
    const alive = pid !== undefined && exitCode === null && signalCode === null;
    const taskGroups = alive ? await listTaskGroups(pid) : [];
    await running.stop('SIGKILL');
    for (const group of taskGroups) {
      await killTaskGroup(group);
    }
  }

  return {
    root,
    async serve(options) {
      const port = options.port ?? (await freePort());
      const dataDir = join(root, `server-${options.name}`);
      const args = ['serve', '--data', dataDir, '--port', String(port), '--log-level', logLevel];
      if (options.database !== undefined) {
        args.push('--database', options.database);
      }
      if (options.leaseTimeout !== undefined) {
        args.push('--lease-timeout', String(options.leaseTimeout));
      }
      const server = startKiln(args, childEnv());
      started.add(server);
      const url = `http://127.0.0.1:${port}`;
      const answered = await waitUntil(
        `kiln serve ${options.name} to answer on ${url}`,
        async () => {
          if (server.child.exitCode !== null || server.child.signalCode !== null) {
            return 'ended';
          }
          return (await fetch(`${url}/api/v1/health`)).ok ? 'answered' : undefined;
        },
        { timeoutMs: 300_000, intervalMs: 200, describe: () => server.stderr() },
      );
      if (answered === 'ended') {
        throw new Error(`kiln serve ${options.name} ended:\n${server.stdout()}${server.stderr()}`);
      }
      const adminToken =
        options.fresh === true ? (await server.waitFor(tokenLine, 30_000))[1] : undefined;
      return { url, port, dataDir, process: server, adminToken };
    },
    async worker(options) {
      const args = [
        'worker',
        '--server',
        options.server,
        '--token',
        options.token,
        '--name',
        options.name,
        '--work-dir',
        join(root, `worker-${options.name}`),
      ];
      if (options.drainTimeout !== undefined) {
        args.push('--drain-timeout', String(options.drainTimeout));
      }
      if (options.pollWait !== undefined) {
        args.push('--poll-wait', String(options.pollWait));
      }
      args.push(...(options.args ?? []));
      const worker = startKiln(args, childEnv());
      started.add(worker);
      await worker.waitFor(new RegExp(`kiln worker ${options.name}: enrolled as `), 60_000);
      return worker;
    },
    crash,
    adoptTaskGroup(pgid) {
      groups.add(pgid);
    },
    async close() {
      for (const running of started) {
        await crash(running);
      }
      for (const group of groups) {
        await killTaskGroup(group);
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** A fresh instance: its first server, the admin, a workspace `rel` and an enrolment token. */
export interface Instance {
  readonly server: ServeProcess;
  readonly adminToken: string;
  readonly admin: Client;
  readonly enrolmentToken: string;
}

/** Starts the first server of a fresh instance and prepares it for tasks. */
export async function startInstance(
  cluster: Cluster,
  options: Omit<ServeOptions, 'fresh'>,
): Promise<Instance> {
  const server = await cluster.serve({ ...options, fresh: true });
  const adminToken = server.adminToken ?? '';
  const admin = createClient(server.url, adminToken);
  await admin.json('POST', '/api/v1/workspaces', { name: 'rel' });
  const enrolmentToken = await createEnrolmentToken(server.url, adminToken);
  return { server, adminToken, admin, enrolmentToken };
}

/** Creates an enrolment token as the admin, over HTTP. */
export async function createEnrolmentToken(url: string, adminToken: string): Promise<string> {
  const created = await createClient(url, adminToken).json<CreatedToken>(
    'POST',
    '/api/v1/workers/enrolment-tokens',
    {},
  );
  return created.token;
}

/** What a PostgreSQL cluster test gets: processes, a fresh schema, and a handle on it. */
export interface PostgresClusterContext {
  readonly cluster: Cluster;
  /** The schema; `schema.url` is the URL for a `kiln serve` process. */
  readonly schema: FreshSchema;
  /** For checks straight in the database. */
  readonly database: OpenDatabase;
  /** Adds a line to the test's report. */
  readonly diagnostic: (message: string) => void;
}

/**
 * Declares a test of several processes on one PostgreSQL schema: PGlite is
 * one process's database, so there it is skipped (and without
 * `KILN_TEST_DATABASE_URL` too, except in CI, where that fails). Processes,
 * connections and the schema are cleaned up even when the test fails.
 */
export function itOnPostgres(
  name: string,
  body: (context: PostgresClusterContext) => Promise<void>,
): void {
  onPostgres((backend) => {
    it(name, async (t) => {
      const url = backend.url;
      const schema = await createFreshSchema(url);
      try {
        const database = await openDatabase(
          { kind: 'postgres', url, schema: schema.schema },
          { poolSize: 2 },
        );
        const cluster = await createCluster();
        try {
          const diagnostic = (message: string) => {
            t.diagnostic(message);
          };
          await body({ cluster, schema, database, diagnostic });
        } finally {
          await cluster.close();
          await database.close();
        }
      } finally {
        await schema.drop();
      }
    });
  });
}

/**
 * Sends `signal` to a process (unless it has ended) and waits, at most
 * `timeoutMs`, for it to end; returns how it ended.
 */
export async function stopWithin(
  running: KilnProcess,
  signal: NodeJS.Signals,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const gaveUp = new AbortController();
  try {
    return await Promise.race([
      running.stop(signal),
      sleep(timeoutMs, undefined, { signal: gaveUp.signal }).then(() => {
        throw new Error(`the process did not end within ${timeoutMs} ms of ${signal}`);
      }),
    ]);
  } finally {
    gaveUp.abort();
  }
}
