import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseServerConfig } from '../../src/server/config.ts';
import { startServer, type RunningServer, type StartOptions } from '../../src/server/main.ts';
import type { TestBackend } from './databases.ts';

export interface TestServer extends RunningServer {
  readonly dataDir: string;
  readonly adminToken: string;
}

/** Starts a kiln server on a fresh database and data directory, on a free port. */
export async function startTestServer(
  backend: TestBackend,
  settings: Record<string, string> = {},
  options: Pick<StartOptions, 'aptIncludeSlice' | 'aptReadHereUpTo'> = {},
): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiln-test-'));
  const config = parseServerConfig(
    [
      '--data',
      dataDir,
      '--port',
      '0',
      ...Object.entries(settings).flatMap(([k, v]) => [`--${k}`, v]),
    ],
    {},
  );
  const server = await startServer(config, {
    database: await backend.open(),
    logger: pino({ level: process.env['KILN_TEST_LOG'] ?? 'silent' }),
    ...options,
  });
  if (server.adminToken === undefined) {
    throw new Error('a fresh database must create the admin');
  }
  return {
    ...server,
    adminToken: server.adminToken,
    dataDir,
    async close() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
