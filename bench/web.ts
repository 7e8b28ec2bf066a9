/**
 * `npm run bench:web`: the server time of the web UI's task list page with
 * 100,000 tasks in the database, beside the JSON API's task list endpoint
 * measured in the same run on the same data (its peer). Both list 50 tasks a
 * page at offsets stepping through the first 10,000 tasks, requests
 * interleaved; the server's own time (Fastify's elapsed time, from its
 * request log) and the client's round trip over 127.0.0.1 are reported as
 * p50 / p99, on PostgreSQL and on the embedded PGlite. Target (issue 7): page
 * p99 ≤ 50 ms. Exits 0 whenever it could measure.
 *
 *   node bench/web.ts [--database URL] [--tasks N] [--requests N] [--only postgres,pglite]
 *
 * --database names a PostgreSQL server (default KILN_BENCH_DATABASE_URL or
 * postgres://root@127.0.0.1:5432/test); the bench creates and drops a
 * database of its own there (kiln_bench_web).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { parseServerConfig } from '../src/server/config.ts';
import { startServer } from '../src/server/main.ts';
import { createScratchDatabase } from './scheduler/postgres.ts';
import { describeError, formatLoad, progress } from './support/console.ts';
import { insertTasks, logInBrowser, prepareWorkspace } from './web/fixture.ts';
import { printReport, type Figures } from './web/report.ts';

const backends = ['postgres', 'pglite'] as const;
type Backend = (typeof backends)[number];
const pageSize = 50;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      database: { type: 'string' },
      tasks: { type: 'string', default: '100000' },
      requests: { type: 'string', default: '200' },
      only: { type: 'string', default: backends.join(',') },
    },
    strict: true,
  });
  const count = (name: string, raw: string) => {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 1 || n > 10_000_000) {
      throw new Error(`--${name} must be a positive integer, not ${raw}`);
    }
    return n;
  };
  const only = values.only.split(',');
  const unknown = only.filter((b) => !(backends as readonly string[]).includes(b));
  if (unknown.length > 0) {
    throw new Error(`--only takes ${backends.join(', ')}, not ${unknown.join(', ')}`);
  }
  return {
    serverUrl:
      values.database ??
      process.env['KILN_BENCH_DATABASE_URL'] ??
      'postgres://root@127.0.0.1:5432/test',
    tasks: count('tasks', values.tasks),
    requests: count('requests', values.requests),
    only: only as Backend[],
  };
}

/** The server's own time per request, read from its request log. */
function createTimingLog() {
  const times = new Map<string, number>();
  return {
    times,
    write(line: string) {
      const entry = JSON.parse(line) as { msg?: string; url?: string; ms?: number };
      if (entry.msg === 'request' && entry.url !== undefined && entry.ms !== undefined) {
        times.set(entry.url, entry.ms);
      }
    },
  };
}

async function measure(
  backend: Backend,
  options: ReturnType<typeof parseOptions>,
): Promise<Figures> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiln-bench-web-'));
  await using scratch =
    backend === 'postgres'
      ? await createScratchDatabase(options.serverUrl, 'kiln_bench_web')
      : undefined;
  const log = createTimingLog();
  const server = await startServer(
    parseServerConfig(
      [
        '--data',
        dataDir,
        '--port',
        '0',
        ...(scratch === undefined ? [] : ['--database', scratch.url]),
      ],
      {},
    ),
    { logger: pino({ level: 'info' }, log) },
  );
  try {
    const workspace = await prepareWorkspace(server.url, server.adminToken ?? '');
    progress(`${backend}: inserting ${options.tasks} tasks`);
    await insertTasks(server.database.db, options.tasks);
    const cookie = await logInBrowser(server.url, workspace.username, workspace.password);
    const targets = {
      page: (offset: number) => `/workspaces/${workspace.name}/tasks?offset=${offset}`,
      api: (offset: number) =>
        `/api/v1/workspaces/${workspace.name}/tasks?limit=${pageSize}&offset=${offset}`,
    } as const;
    const headers = { page: { cookie }, api: { authorization: `Bearer ${workspace.token}` } };
    const samples = {
      page: { server: [] as number[], client: [] as number[] },
      api: { server: [] as number[], client: [] as number[] },
    };
    const offsets = Math.min(10_000, options.tasks) / pageSize;
    progress(`${backend}: ${options.requests} requests each, interleaved (load ${formatLoad()})`);
    for (let i = -10; i < options.requests; i++) {
      for (const kind of ['page', 'api'] as const) {
        // A unique query parameter ties the request to its line in the server's log.
        const url = `${targets[kind](((i + 10) % offsets) * pageSize)}&bench=${i}`;
        const started = performance.now();
        const response = await fetch(`${server.url}${url}`, { headers: headers[kind] });
        const body = await response.text();
        const client = performance.now() - started;
        if (response.status !== 200 || body.length < 1000) {
          throw new Error(`${kind} ${url}: ${response.status} ${body.slice(0, 200)}`);
        }
        if (i >= 0) {
          samples[kind].client.push(client);
          samples[kind].server.push(await serverTime(log.times, url));
        }
      }
    }
    return { backend, tasks: options.tasks, requests: options.requests, pageSize, ...samples };
  } finally {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** The logged time of `url` (the log line follows the response by a moment). */
async function serverTime(times: ReadonlyMap<string, number>, url: string): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const ms = times.get(url);
    if (ms !== undefined) {
      return ms;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`no request log line for ${url}`);
}

async function main(): Promise<void> {
  const options = parseOptions();
  const figures: Figures[] = [];
  for (const backend of options.only) {
    try {
      figures.push(await measure(backend, options));
    } catch (error) {
      progress(`${backend}: could not measure: ${describeError(error)}`);
    }
  }
  printReport(figures);
  if (figures.length === 0) {
    process.exitCode = 1;
  }
}

await main();
