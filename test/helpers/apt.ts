/**
 * A real apt of its own for tests: configuration, sources, keys, lists, cache
 * and a dpkg root under one directory (see apt-config.ts). Packages install
 * into `<dir>/root`.
 */
import { execFile } from 'node:child_process';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { aptConfig } from './apt-config.ts';

const run = promisify(execFile);

export interface AptSourceSpec {
  /** The repository's root, above dists/. */
  readonly uri: string;
  readonly suite: string;
  readonly components: readonly string[];
  /** The first is apt's native architecture. */
  readonly architectures: readonly string[];
  /** The armored public key(s) for `signed-by`. */
  readonly key: string;
  /** Whether apt also fetches the Sources indices (a `deb-src` line), for `apt-get source`. */
  readonly sources?: boolean;
  /** HTTP basic credentials, written to auth.conf.d as apt users do. */
  readonly auth?: { readonly login: string; readonly password: string };
}

export interface AptResult {
  readonly code: number;
  readonly output: string;
}

export interface AptClient {
  readonly dir: string;
  /** Runs apt-get with our configuration; never throws for a non-zero exit. */
  aptGet(...args: string[]): Promise<AptResult>;
  /** `apt-get update --error-on=any`; throws with apt's output unless it succeeds cleanly. */
  update(): Promise<string>;
  /** The candidate version of `pkg` (`name` or `name:arch`), or undefined. */
  candidate(pkg: string): Promise<string | undefined>;
  /** Installs packages into the private root; throws with apt's output on failure. */
  install(...packages: string[]): Promise<string>;
  /** The version dpkg has installed in the private root, or undefined. */
  installed(pkg: string): Promise<string | undefined>;
  /** Replaces the trusted key (after a rotation, say). */
  setKey(armored: string): Promise<void>;
}

export async function createAptClient(dir: string, source: AptSourceSpec): Promise<AptClient> {
  const etc = join(dir, 'etc');
  for (const sub of ['apt.conf.d', 'sources.list.d', 'preferences.d', 'auth.conf.d']) {
    await mkdir(join(etc, sub), { recursive: true });
  }
  const admin = join(dir, 'root', 'var', 'lib', 'dpkg');
  for (const sub of ['state/lists/partial', 'cache/archives/partial', 'log']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  for (const sub of ['updates', 'info']) {
    await mkdir(join(admin, sub), { recursive: true });
  }
  await writeFile(join(admin, 'status'), '');
  const keyFile = join(dir, 'repository.asc');
  await writeFile(keyFile, source.key);
  const config = join(dir, 'apt.conf');
  await writeFile(
    config,
    aptConfig({
      dir,
      architectures: source.architectures,
      dpkg: { root: join(dir, 'root'), admin },
    }),
  );
  const line = `[signed-by=${keyFile}] ${source.uri} ${source.suite} ${source.components.join(' ')}\n`;
  await writeFile(
    join(etc, 'sources.list'),
    `deb ${line}${source.sources === true ? `deb-src ${line}` : ''}`,
  );
  if (source.auth !== undefined) {
    const auth = join(etc, 'auth.conf.d', 'kiln.conf');
    await writeFile(
      auth,
      `machine ${source.uri}\nlogin ${source.auth.login}\npassword ${source.auth.password}\n`,
      { mode: 0o600 },
    );
  }
  const env = {
    ...process.env,
    APT_CONFIG: config,
    LC_ALL: 'C',
    DEBIAN_FRONTEND: 'noninteractive',
  };
  const aptGet = async (...args: string[]): Promise<AptResult> => {
    try {
      const { stdout, stderr } = await run('apt-get', args, {
        env,
        cwd: dir,
        maxBuffer: 16 * 1024 * 1024,
        timeout: 120_000,
      });
      return { code: 0, output: stdout + stderr };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      return {
        code: typeof failed.code === 'number' ? failed.code : -1,
        output: `${failed.stdout ?? ''}${failed.stderr ?? ''}`,
      };
    }
  };
  const succeed = async (...args: string[]) => {
    const result = await aptGet(...args);
    if (result.code !== 0 || /^(W|E|Err):/m.test(result.output)) {
      throw new Error(`apt-get ${args.join(' ')} failed (${result.code}):\n${result.output}`);
    }
    return result.output;
  };
  return {
    dir,
    aptGet,
    update: () => succeed('update', '--error-on=any'),
    async candidate(pkg) {
      const { stdout } = await run('apt-cache', ['policy', pkg], { env });
      const version = /Candidate: (\S+)/.exec(stdout)?.[1];
      return version === undefined || version === '(none)' ? undefined : version;
    },
    install: (...packages) => succeed('install', '--yes', ...packages),
    async installed(pkg) {
      const status = await readFile(join(admin, 'status'), 'utf8');
      const stanza = status
        .split(/\n\n+/)
        .find((s) => new RegExp(`^Package: ${pkg}$`, 'm').test(s));
      return stanza === undefined ? undefined : /^Version: (.*)$/m.exec(stanza)?.[1];
    },
    async setKey(armored) {
      await writeFile(keyFile, armored);
    },
  };
}

/**
 * Tells the private dpkg root that this machine's libc6 is installed, as on
 * any Debian system: a kiln repository holds only kiln's packages, and the
 * fixture's one dependency is libc6.
 */
export async function markLibcInstalled(apt: AptClient): Promise<void> {
  const { stdout: version } = await run('dpkg-query', ['-W', '-f=${Version}', 'libc6']);
  await appendFile(
    join(apt.dir, 'root', 'var', 'lib', 'dpkg', 'status'),
    `Package: libc6\nStatus: install ok installed\nPriority: required\nMaintainer: kiln tests\nArchitecture: amd64\nVersion: ${version}\nDescription: stand-in\n\n`,
  );
}
