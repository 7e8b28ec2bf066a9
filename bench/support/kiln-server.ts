import { join } from 'node:path';
import { findFreePort, spawnChild } from './child.ts';

/** A `kiln serve` child process (on PGlite unless told a PostgreSQL URL), and its admin's token. */
export interface KilnServer extends AsyncDisposable {
  readonly url: string;
  readonly token: string;
  readonly pid: number;
  /** Calls the JSON API as the admin; throws on an error status. */
  call(method: string, path: string, body?: unknown): Promise<unknown>;
}

const startTimeoutMs = 120_000;
const tokenLine = /token \(shown once\):\s*\n\s*(\S+)/;

export interface KilnServerOptions {
  /** A PostgreSQL URL (an empty database); absent: the embedded PGlite in `dataDir`. */
  readonly databaseUrl?: string;
  readonly logLevel?: string;
  /** More `kiln serve` flags. */
  readonly args?: readonly string[];
}

/**
 * Starts `kiln serve` from the repository at `repoRoot` on a fresh `dataDir`
 * (and a fresh database, when `options` name one).
 */
export async function startKilnServer(
  repoRoot: string,
  dataDir: string,
  options: KilnServerOptions = {},
): Promise<KilnServer> {
  const port = await findFreePort();
  const child = spawnChild(
    join(repoRoot, 'node_modules/.bin/node'),
    [
      // As bin/kiln starts it.
      '--disable-warning=ExperimentalWarning',
      '--max-semi-space-size=8',
      'src/main.ts',
      'serve',
      '--data',
      dataDir,
      '--port',
      String(port),
      ...(options.databaseUrl === undefined ? [] : ['--database', options.databaseUrl]),
      ...(options.logLevel === undefined ? [] : ['--log-level', options.logLevel]),
      ...(options.args ?? []),
    ],
    { cwd: repoRoot },
  );
  try {
    const token = await readAdminToken(child.process.stderr, child.exited);
    const url = `http://127.0.0.1:${port}`;
    return {
      url,
      token,
      pid: child.pid,
      call: (method, path, body) => callApi(`${url}${path}`, token, method, body),
      async [Symbol.asyncDispose]() {
        await child.stop('SIGTERM', 10_000);
      },
    };
  } catch (error) {
    await child.stop('SIGTERM', 10_000);
    throw new Error(`kiln serve did not start:\n${child.outputTail()}`, { cause: error });
  }
}

/** `kiln serve` prints the first admin's token on stderr once it listens. */
async function readAdminToken(
  stderr: NodeJS.ReadableStream | null,
  exited: Promise<string>,
): Promise<string> {
  if (stderr === null) {
    throw new Error('no stderr to read the token from');
  }
  let text = '';
  const token = new Promise<string>((resolve) => {
    const onData = (data: Buffer) => {
      text += data.toString('utf8');
      const match = tokenLine.exec(text);
      if (match?.[1] !== undefined) {
        stderr.off('data', onData);
        resolve(match[1]);
      }
    };
    stderr.on('data', onData);
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no admin token after ${startTimeoutMs / 1000} s`));
    }, startTimeoutMs);
  });
  const exit = exited.then((how) => {
    throw new Error(`kiln serve stopped (${how})`);
  });
  try {
    return await Promise.race([token, timeout, exit]);
  } finally {
    clearTimeout(timer);
  }
}

async function callApi(url: string, token: string, method: string, body: unknown) {
  const response = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${method} ${url}: ${response.status} ${text}`);
  }
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}
