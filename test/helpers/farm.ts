import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childEnv, runKiln, startKiln, type Finished, type KilnProcess } from './processes.ts';
import { listDescendants } from './process-tree.ts';

/** `kiln up` running as a real process, and a way to run `kiln` commands against it. */
export interface Farm {
  readonly url: string;
  /** The first admin's token, as `kiln up` printed it. */
  readonly adminToken: string;
  /** A scratch directory, removed by `close`. */
  readonly root: string;
  readonly dataDir: string;
  readonly process: KilnProcess;
  /** An XDG_CONFIG_HOME of its own: one CLI login per name ("admin" is `up`'s). */
  configHome(name: string): string;
  /** Runs `kiln args` as the CLI user `as` (default "admin"). */
  kiln(
    args: readonly string[],
    options?: { as?: string; input?: string; cwd?: string; env?: Record<string, string> },
  ): Promise<Finished>;
  /** Stops the server if it still runs and removes the scratch directory. */
  close(): Promise<void>;
}

/** Starts `kiln up --data <tmp> --port 0` with its own XDG_CONFIG_HOME. */
export async function startFarm(): Promise<Farm> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-cli-test-'));
  const dataDir = join(root, 'data');
  const configHome = (name: string) => join(root, `config-${name}`);
  // Port 0: the server takes a free one and says which. A port found free
  // beforehand could be taken by another test's process before kiln listens.
  const up = startKiln(
    ['up', '--data', dataDir, '--port', '0'],
    childEnv({ XDG_CONFIG_HOME: configHome('admin') }),
  );
  try {
    await up.waitFor(/Stop with Ctrl-C\./, 180_000);
  } catch (error) {
    await up.stop('SIGKILL');
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  const url = /kiln is up at (\S+)/.exec(up.stdout())?.[1];
  const adminToken = /\n {2}(kiln_p_\S+)\n/.exec(up.stdout())?.[1];
  assert.ok(url !== undefined && /^http:\/\/127\.0\.0\.1:[1-9][0-9]*$/.test(url), up.stdout());
  assert.ok(adminToken, up.stdout());
  return {
    url,
    adminToken,
    root,
    dataDir,
    process: up,
    configHome,
    async kiln(args, options = {}) {
      const home = configHome(options.as ?? 'admin');
      await mkdir(home, { recursive: true });
      return runKiln(args, {
        env: childEnv({ XDG_CONFIG_HOME: home, ...options.env }),
        ...(options.input === undefined ? {} : { input: options.input }),
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      });
    },
    async close() {
      // SIGKILL leaves `up` no chance to stop its local worker: kill its descendants too.
      const { pid, exitCode, signalCode } = up.child;
      const descendants =
        pid !== undefined && exitCode === null && signalCode === null
          ? await listDescendants(pid)
          : [];
      await up.stop('SIGKILL');
      for (const descendant of descendants) {
        try {
          process.kill(descendant.pid, 'SIGKILL');
        } catch {
          // It ended with its parent.
        }
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Asserts a command succeeded, and returns its standard output. */
export function succeeded(result: Finished): string {
  assert.equal(result.code, 0, `exit ${String(result.code)}: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** Asserts a command succeeded with `--json`, and returns its output parsed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read any field of the output
export function parsed(result: Finished): any {
  return JSON.parse(succeeded(result));
}

/**
 * Asserts a command failed as the CLI promises: exit `code`, nothing on stdout,
 * and one line on stderr starting with `kiln:` that matches `pattern`.
 */
export function failed(result: Finished, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, `stderr: ${result.stderr}`);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^kiln: [^\n]+\n$/, 'one line on stderr');
  assert.match(result.stderr, pattern);
}
