import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** The worker's configuration: parsed once at start, frozen. */
export interface WorkerConfig {
  readonly server: string;
  /** An enrolment token (`kiln_e_…`, enrols first) or the worker's own token (`kiln_w_…`). */
  readonly token: string;
  readonly name: string;
  /** Where tasks get their fresh working directories. */
  readonly workDir: string;
  /** Overrides of what the worker detects about itself. */
  readonly architectures: readonly string[] | undefined;
  readonly crossArchitectures: readonly string[] | undefined;
  /** Executors to offer; `undefined` detects them (host, and unshare when the sandbox tools are there). */
  readonly executors: readonly string[] | undefined;
  /** Where base images for Debian builds and the shared apt archive cache live. */
  readonly imageDir: string;
  readonly mirror: string;
  readonly tags: readonly string[];
  /** Seconds a stopping worker lets its task finish before handing it back. */
  readonly drainTimeout: number;
  /** Seconds one long poll for a task lasts. */
  readonly pollWait: number;
}

export class WorkerConfigError extends Error {
  override readonly name = 'WorkerConfigError';
}

export const workerUsage = `Usage: kiln worker --server URL --token TOKEN [options]

Options (flag, environment):
  --server URL            KILN_SERVER         the kiln server
  --token TOKEN           KILN_WORKER_TOKEN   an enrolment token, or this worker's own token
  --name NAME             KILN_WORKER_NAME    default: the host name
  --work-dir DIR          KILN_WORK_DIR       default: <tmp>/kiln-worker-<name>
  --arch LIST             KILN_WORKER_ARCH    architectures run natively (default: detected)
  --cross-arch LIST       KILN_WORKER_CROSS   architectures it can cross-build for
  --executors LIST        KILN_WORKER_EXECUTORS  default: host, and unshare when root with bwrap
  --image-dir DIR         KILN_IMAGE_DIR      Debian build images (default: <work-dir>/images)
  --mirror URL            KILN_MIRROR         Debian mirror for images (default: deb.debian.org)
  --tags LIST             KILN_WORKER_TAGS    tags tasks may require
  --drain-timeout SECS    KILN_DRAIN_TIMEOUT  on SIGTERM, let the task finish this long (default 600)
`;

const flags = {
  server: 'KILN_SERVER',
  token: 'KILN_WORKER_TOKEN',
  name: 'KILN_WORKER_NAME',
  'work-dir': 'KILN_WORK_DIR',
  arch: 'KILN_WORKER_ARCH',
  'cross-arch': 'KILN_WORKER_CROSS',
  executors: 'KILN_WORKER_EXECUTORS',
  tags: 'KILN_WORKER_TAGS',
  'drain-timeout': 'KILN_DRAIN_TIMEOUT',
  'poll-wait': 'KILN_POLL_WAIT',
  'image-dir': 'KILN_IMAGE_DIR',
  mirror: 'KILN_MIRROR',
} as const;

type Flag = keyof typeof flags;

export function parseWorkerConfig(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): WorkerConfig {
  let values: Partial<Record<Flag, string>>;
  try {
    values = parseArgs({
      args: [...args],
      options: Object.fromEntries(Object.keys(flags).map((f) => [f, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new WorkerConfigError((error as Error).message);
  }
  const get = (flag: Flag): string | undefined => values[flag] ?? env[flags[flag]];
  const list = (flag: Flag): string[] | undefined =>
    get(flag)
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  const server = get('server');
  const token = get('token');
  if (server === undefined) {
    throw new WorkerConfigError('--server (or KILN_SERVER) is required');
  }
  try {
    new URL(server);
  } catch {
    throw new WorkerConfigError(`--server: ${JSON.stringify(server)} is not a URL`);
  }
  if (token === undefined) {
    throw new WorkerConfigError('--token (or KILN_WORKER_TOKEN) is required');
  }
  const name = get('name') ?? hostname();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new WorkerConfigError(`--name: ${JSON.stringify(name)} is not a worker name`);
  }
  const seconds = (flag: Flag, fallback: number, max: number): number => {
    const raw = get(flag);
    if (raw === undefined) {
      return fallback;
    }
    if (!/^\d+$/.test(raw) || Number(raw) > max) {
      throw new WorkerConfigError(
        `--${flag}: ${JSON.stringify(raw)} is not a number of seconds up to ${max}`,
      );
    }
    return Number(raw);
  };
  const workDir = resolve(get('work-dir') ?? join(tmpdir(), `kiln-worker-${name}`));
  return Object.freeze({
    server: server.replace(/\/+$/, ''),
    token,
    name,
    workDir,
    imageDir: resolve(get('image-dir') ?? join(workDir, 'images')),
    mirror: get('mirror') ?? 'http://deb.debian.org/debian',
    architectures: list('arch'),
    crossArchitectures: list('cross-arch'),
    executors: list('executors'),
    tags: list('tags') ?? [],
    drainTimeout: seconds('drain-timeout', 600, 7 * 86400),
    pollWait: seconds('poll-wait', 25, 60),
  });
}
