import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { saveCredentials } from './cli/credentials.ts';
import { createClient, type Client } from './client/client.ts';
import type { Task } from './protocol/tasks.schema.ts';
import type { Workspace } from './protocol/workspaces.schema.ts';
import {
  ConfigError,
  parseServerConfig,
  serverOptionsHelp,
  type ServerConfig,
} from './server/config.ts';
import { startServer, stopOnSignals, type RunningServer } from './server/main.ts';
import { createLocalEnrolmentToken } from './server/scheduler/worker.service.ts';

const say = (line = '') => process.stdout.write(`${line}\n`);

/**
 * `kiln up`: the whole farm on one machine. The server runs on an embedded
 * PGlite database and a file store under one data directory, logging JSON to
 * `<data>/server.log`; a local worker runs beside it (`<data>/worker.log`).
 * The first start creates the admin (and a `demo` workspace) and logs the CLI
 * in; every start runs a small task through the farm to show it works.
 */
export async function main(args: readonly string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(
      `Usage: kiln up [options]\n\nOptions (flag, environment):\n${serverOptionsHelp}\n`,
    );
    return;
  }
  let config: ServerConfig;
  try {
    config = parseServerConfig(args, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`kiln up: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
  const logFile = join(config.dataDir, 'server.log');
  const destination = pino.destination({ dest: logFile, mkdir: true, sync: false });
  // Until it is open, pino cannot flush it when the process exits (a start-up that fails at once).
  await once(destination, 'ready');
  const started = startServer(config, { logger: pino({ level: config.logLevel }, destination) });
  // The signal handler is in place from the start; the worker joins it once running.
  const local: { worker?: ChildProcess } = {};
  stopOnSignals(started, () => local.worker?.kill('SIGTERM'));
  // Nor does it outlive a server that stops on its own (its database process died).
  process.once('exit', () => local.worker?.kill('SIGTERM'));
  const server = await started.catch((error: unknown) => {
    if (error instanceof ConfigError) {
      // Start-up stopped half-way (the database may be open): leave now.
      process.stderr.write(`kiln up: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  });
  local.worker = await startLocalWorker(server, config);

  say(`kiln is up at ${server.url}`);
  say(
    `  database    ${server.database.kind === 'pglite' ? `PGlite in ${join(config.dataDir, 'db')}` : 'PostgreSQL'}`,
  );
  say(`  files       ${join(config.dataDir, 'files')}`);
  if (config.signingPassphrase === undefined) {
    // Without it the signing keys in the database are lost: it is backed up with the database.
    say(`  signing     passphrase in ${join(config.dataDir, 'signer.passphrase')}`);
  }
  say(`  API         ${server.url}/api/v1 (OpenAPI: ${server.url}/api/v1/openapi.json)`);
  say(`  logs        ${logFile}, ${join(config.dataDir, 'worker.log')}`);
  if (server.adminToken !== undefined) {
    const admin = createClient(server.url, server.adminToken);
    await admin.json<Workspace>('POST', '/api/v1/workspaces', { name: 'demo', public: false });
    const path = await saveCredentials(server.url, server.adminToken);
    say();
    say('First start: user "admin" and workspace "demo" created. The admin token (shown');
    say(`once; the CLI on this machine is logged in with it, saved in ${path}):`);
    say(`  ${server.adminToken}`);
    await showItWorks(admin);
  }
  say();
  say('Try:  ./bin/kiln task run demo -- uname -a');
  say('      ./bin/kiln artifact create demo --type example README.md');
  say('Stop with Ctrl-C.');
}

async function startLocalWorker(
  server: RunningServer,
  config: ServerConfig,
): Promise<ChildProcess> {
  const token = await createLocalEnrolmentToken(server.database.db);
  const workDir = join(config.dataDir, 'worker');
  await mkdir(workDir, { recursive: true });
  const log = createWriteStream(join(config.dataDir, 'worker.log'), { flags: 'a' });
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      new URL('./main.ts', import.meta.url).pathname,
      'worker',
      '--server',
      server.url,
      '--name',
      'local',
      '--work-dir',
      workDir,
    ],
    { env: { ...process.env, KILN_WORKER_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  return child;
}

/** Runs one shell task through the farm and prints what it said. */
async function showItWorks(client: Client): Promise<void> {
  const task = await client.json<Task>('POST', '/api/v1/workspaces/demo/tasks', {
    type: 'shell',
    input: { command: 'echo "hello from the kiln farm, on $(uname -n) ($(uname -m))"' },
  });
  say();
  say(`Self-check: task ${task.id} (shell) submitted to workspace demo...`);
  for (let waited = 0; waited < 60_000; waited += 200) {
    const current = await client.json<Task>('GET', `/api/v1/tasks/${task.id}`);
    if (current.state === 'completed' || current.state === 'cancelled') {
      const log = await (await client.download(`/api/v1/tasks/${task.id}/log`)).toArray();
      say(
        `  ${current.state}, ${current.result ?? ''} on worker ${current.worker ?? '?'}; its log:`,
      );
      for (const line of Buffer.concat(log as Buffer[])
        .toString('utf8')
        .trimEnd()
        .split('\n')) {
        say(`  | ${line}`);
      }
      return;
    }
    await sleep(200);
  }
  say('  the task did not finish within a minute: see `kiln task why` and the worker log');
}
