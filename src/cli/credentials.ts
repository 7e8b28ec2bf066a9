import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** Where the CLI keeps its login: `$XDG_CONFIG_HOME/kiln/credentials.json`. */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_CONFIG_HOME'] || join(homedir(), '.config');
  return join(base, 'kiln', 'credentials.json');
}

interface CredentialsFile {
  current?: string;
  servers: Record<string, { token: string }>;
}

/** The server and token to use: flags, then `KILN_SERVER`/`KILN_TOKEN`, then the login. */
export interface Credentials {
  readonly server: string | undefined;
  readonly token: string | undefined;
}

async function readCredentialsFile(path: string): Promise<CredentialsFile> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as CredentialsFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { servers: {} };
    }
    throw new Error(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

export async function loadCredentials(
  flags: { server?: string | undefined; token?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credentials> {
  const file = await readCredentialsFile(credentialsPath(env));
  const server = normaliseServer(flags.server ?? env['KILN_SERVER'] ?? file.current);
  const token =
    flags.token ??
    env['KILN_TOKEN'] ??
    (server === undefined ? undefined : file.servers[server]?.token);
  return { server, token };
}

/** Stores a token for a server and makes that server the current one (file mode 0600). */
export async function saveCredentials(
  server: string,
  token: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const path = credentialsPath(env);
  const file = await readCredentialsFile(path);
  const url = normaliseServer(server) ?? server;
  file.servers[url] = { token };
  file.current = url;
  await writeAtomically(path, file);
  return path;
}

/** Forgets the token of the current (or given) server. */
export async function forgetCredentials(
  server: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<boolean> {
  const path = credentialsPath(env);
  const file = await readCredentialsFile(path);
  const url = normaliseServer(server ?? file.current);
  if (url === undefined || file.servers[url] === undefined) {
    return false;
  }
  file.servers = Object.fromEntries(Object.entries(file.servers).filter(([key]) => key !== url));
  if (file.current === url) {
    delete file.current;
  }
  await writeAtomically(path, file);
  return true;
}

async function writeAtomically(path: string, content: CredentialsFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  await rename(temp, path);
}

function normaliseServer(server: string | undefined): string | undefined {
  return server?.replace(/\/+$/, '');
}
