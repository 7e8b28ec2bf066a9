import { join } from 'node:path';
import { pino } from 'pino';
import { saveCredentials } from './cli/credentials.ts';
import { ConfigError, parseServerConfig, serverOptionsHelp } from './server/config.ts';
import { startServer, stopOnSignals } from './server/main.ts';

/**
 * `kiln up`: the whole farm on one machine. The server runs on an embedded
 * PGlite database and a file store under one data directory, logging JSON to
 * `<data>/server.log`; the first start creates the admin and logs the CLI in.
 */
export async function main(args: readonly string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(
      `Usage: kiln up [options]\n\nOptions (flag, environment):\n${serverOptionsHelp}\n`,
    );
    return;
  }
  let config;
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
  const started = startServer(config, {
    logger: pino(
      { level: config.logLevel },
      pino.destination({ dest: logFile, mkdir: true, sync: false }),
    ),
  });
  stopOnSignals(started);
  const server = await started;

  const say = (line = '') => process.stdout.write(`${line}\n`);
  say(`kiln is up at ${server.url}`);
  say(
    `  database    ${server.database.kind === 'pglite' ? `PGlite in ${join(config.dataDir, 'db')}` : 'PostgreSQL'}`,
  );
  say(`  files       ${join(config.dataDir, 'files')}`);
  say(`  API         ${server.url}/api/v1 (OpenAPI: ${server.url}/api/v1/openapi.json)`);
  say(`  log         ${logFile}`);
  if (server.adminToken !== undefined) {
    const path = await saveCredentials(server.url, server.adminToken);
    say();
    say('First start: user "admin" created. Its token (shown once; the CLI is logged in with it,');
    say(`saved in ${path}):`);
    say(`  ${server.adminToken}`);
  }
  const health = await fetch(`${server.url}/api/v1/health`);
  say();
  say(`Health check over HTTP: ${health.status === 200 ? 'ok' : `failed (HTTP ${health.status})`}`);
  say(
    'Try: ./bin/kiln workspace create demo && ./bin/kiln artifact create demo --type example README.md',
  );
  say('Stop with Ctrl-C.');
}
