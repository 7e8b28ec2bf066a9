/**
 * `npm run bench:scheduler`: kiln's scheduler under 100 simulated workers over
 * HTTP, beside graphile-worker and pg-boss doing the same no-op jobs on the
 * same PostgreSQL in the same run, then kiln again on its embedded PGlite.
 * Each queue: dispatch throughput for 20,000 tasks (first claim to last
 * completion), and pickup latency with idle workers, one task every 20 ms
 * (p50, p99). Prints them side by side against the targets of issue 3, and
 * exits 0 whenever it could measure.
 *
 *   node bench/scheduler.ts [--database URL] [--tasks N] [--workers N]
 *     [--pickup N] [--only kiln,graphile-worker,pg-boss,pglite] [--timeout SECONDS]
 *
 * --database names a PostgreSQL server (default postgres://root@127.0.0.1:5432/test,
 * or KILN_BENCH_DATABASE_URL); the bench creates and drops databases of its own
 * there (kiln_bench_sched, graphile_bench, pgboss_bench). --timeout caps each
 * throughput run (default 900 s).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measureKiln, type Workload } from './scheduler/kiln-workers.ts';
import { measureGraphileWorker } from './scheduler/peers/graphile-worker.ts';
import { measurePgBoss } from './scheduler/peers/pg-boss.ts';
import { createScratchDatabase, readServerVersion } from './scheduler/postgres.ts';
import type { QueueFigures } from './scheduler/probes.ts';
import { printReport } from './scheduler/report.ts';
import { startKilnServer } from './support/kiln-server.ts';
import { describeError, formatLoad, progress } from './support/console.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const queues = ['kiln', 'graphile-worker', 'pg-boss', 'pglite'] as const;
type Queue = (typeof queues)[number];

interface Options {
  readonly serverUrl: string;
  readonly workload: Workload;
  readonly only: ReadonlySet<Queue>;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      database: { type: 'string' },
      tasks: { type: 'string', default: '20000' },
      workers: { type: 'string', default: '100' },
      pickup: { type: 'string', default: '500' },
      only: { type: 'string', default: queues.join(',') },
      timeout: { type: 'string', default: '900' },
    },
    strict: true,
  });
  const count = (name: string, raw: string, max: number) => {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 1 || n > max) {
      throw new Error(`--${name} must be an integer from 1 to ${max}, not ${raw}`);
    }
    return n;
  };
  const only = values.only.split(',').map((q) => q.trim());
  const unknown = only.find((q) => !(queues as readonly string[]).includes(q));
  if (unknown !== undefined) {
    throw new Error(`--only: ${unknown} is not one of ${queues.join(', ')}`);
  }
  return {
    serverUrl:
      values.database ??
      process.env['KILN_BENCH_DATABASE_URL'] ??
      'postgres://root@127.0.0.1:5432/test',
    workload: {
      tasks: count('tasks', values.tasks, 1_000_000),
      workers: count('workers', values.workers, 1000),
      pickupTasks: count('pickup', values.pickup, 100_000),
      pickupIntervalMs: 20,
      pickupWarmup: 20,
      timeoutMs: count('timeout', values.timeout, 86_400) * 1000,
    },
    only: new Set(only as Queue[]),
  };
}

async function main(): Promise<void> {
  const controller = new AbortController();
  const interrupt = () => {
    controller.abort(new Error('interrupted'));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const options = parseOptions();
    printReport(await measure(options, controller.signal));
  } catch (error) {
    process.stderr.write(`bench:scheduler failed: ${describeError(error)}\n`);
    process.exitCode = controller.signal.aborted ? 130 : 1;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

async function measure(options: Options, signal: AbortSignal) {
  const { serverUrl, workload, only } = options;
  progress(`${cpus().length} CPUs, load average ${formatLoad()}`);
  const postgres = await readServerVersion(serverUrl);
  progress(`PostgreSQL ${postgres} at ${new URL(serverUrl).host}`);
  const peers: QueueFigures[] = [];
  let kilnPostgres: QueueFigures | undefined;
  let kilnPglite: QueueFigures | undefined;
  if (only.has('kiln')) {
    await using database = await createScratchDatabase(serverUrl, 'kiln_bench_sched');
    kilnPostgres = await withKilnServer(database.url, (kiln) =>
      measureKiln(kiln, 'kiln (PostgreSQL)', workload, signal, progress),
    );
  }
  if (only.has('graphile-worker')) {
    await using database = await createScratchDatabase(serverUrl, 'graphile_bench');
    peers.push(await measureGraphileWorker(database.url, workload, signal, progress));
  }
  if (only.has('pg-boss')) {
    await using database = await createScratchDatabase(serverUrl, 'pgboss_bench');
    peers.push(await measurePgBoss(database.url, workload, signal, progress));
  }
  if (only.has('pglite')) {
    kilnPglite = await withKilnServer(undefined, (kiln) =>
      measureKiln(kiln, 'kiln (PGlite)', workload, signal, progress),
    );
  }
  progress(`load average ${formatLoad()}`);
  return { workload, postgres, kilnPostgres, kilnPglite, peers };
}

/**
 * Runs `work` against a `kiln serve` child process on PostgreSQL (or on the
 * embedded PGlite in its data directory), logging warnings only.
 */
async function withKilnServer<T>(
  databaseUrl: string | undefined,
  work: (kiln: Awaited<ReturnType<typeof startKilnServer>>) => Promise<T>,
): Promise<T> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiln-bench-'));
  try {
    await using kiln = await startKilnServer(repoRoot, dataDir, {
      ...(databaseUrl === undefined ? {} : { databaseUrl }),
      logLevel: 'warn',
    });
    progress(`kiln serve at ${kiln.url} (pid ${kiln.pid}) on ${databaseUrl ?? 'PGlite'}`);
    return await work(kiln);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
