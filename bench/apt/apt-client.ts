import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { aptConfig } from '../../test/helpers/apt-config.ts';
import type { PackageSpec } from './corpus-spec.ts';
import type { AptSource, RepoLayout } from './tool.ts';

const run = promisify(execFile);

/** An apt of its own (config, sources, keys, lists, cache) pointed at one published repository. */
export interface AptClient {
  /**
   * Runs `apt-get update` (any warning is a failure), then checks that the
   * lists hold exactly `expected`, that each of `downloads` downloads (apt
   * checks its hashes against Packages), and that `install` resolves (its
   * Depends). Returns a problem, or undefined when all is well.
   */
  check(request: CheckRequest, signal: AbortSignal): Promise<string | undefined>;
}

export interface CheckRequest {
  readonly expected: readonly PackageSpec[];
  readonly downloads: readonly PackageSpec[];
  readonly install: PackageSpec | undefined;
}

/** Writes the client's files under `dir` (see test/helpers/apt-config.ts). */
export async function createAptClient(
  dir: string,
  source: AptSource,
  layout: RepoLayout,
): Promise<AptClient> {
  const etc = join(dir, 'etc');
  for (const sub of [
    'apt.conf.d',
    'sources.list.d',
    'trusted.gpg.d',
    'preferences.d',
    'auth.conf.d',
  ]) {
    await mkdir(join(etc, sub), { recursive: true });
  }
  for (const sub of ['state/lists/partial', 'cache/archives/partial', 'log', 'download']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  await writeFile(join(dir, 'state', 'status'), '');
  const binary = layout.architectures.filter((a) => a !== 'all');
  const config = join(dir, 'apt.conf');
  await writeFile(config, aptConfig({ dir, architectures: binary }));
  await writeFile(
    join(etc, 'sources.list'),
    `deb [signed-by=${source.signedBy} arch=${binary.join(',')}] ${source.uri} ${layout.suite} ${layout.component}\n`,
  );
  const env = { ...process.env, APT_CONFIG: config, LC_ALL: 'C' };
  const aptGet = (args: readonly string[], signal: AbortSignal, cwd = dir) =>
    run('apt-get', args, { env, signal, cwd, maxBuffer: 64 * 1024 * 1024 });

  return {
    async check(request, signal) {
      try {
        const update = await aptGet(['update', '--error-on=any'], signal);
        const output = `${update.stdout}${update.stderr}`;
        if (/^(W|E|Err):/m.test(output)) {
          return `apt-get update warned:\n${output.slice(-2000)}`;
        }
        const lists = join(dir, 'state', 'lists');
        if (!(await readdir(lists)).some((f) => f.endsWith('_InRelease'))) {
          return 'apt-get update used no InRelease file';
        }
        const problem = compareLists(await readPackagesLists(lists), request.expected);
        if (problem !== undefined) {
          return problem;
        }
        const downloads = join(dir, 'download');
        for (const pkg of request.downloads) {
          await aptGet(
            ['download', `${pkg.name}:${pkg.architecture}=${pkg.version}`],
            signal,
            downloads,
          );
        }
        await rm(downloads, { recursive: true });
        await mkdir(downloads);
        if (request.install !== undefined) {
          await aptGet(['install', '--simulate', '--yes', request.install.name], signal);
        }
        return undefined;
      } catch (error) {
        signal.throwIfAborted();
        const failed = error as { message?: string; stdout?: string; stderr?: string };
        return `${failed.message ?? String(error)}\n${(failed.stdout ?? '') + (failed.stderr ?? '')}`.slice(
          -2000,
        );
      }
    },
  };
}

const fields = {
  package: /^Package: *(.*)$/m,
  version: /^Version: *(.*)$/m,
  architecture: /^Architecture: *(.*)$/m,
};

/** Every (package, version, architecture) in the Packages lists apt kept, once. */
async function readPackagesLists(lists: string): Promise<Set<string>> {
  const seen = new Set<string>();
  for (const file of await readdir(lists)) {
    if (!file.endsWith('_Packages')) {
      continue;
    }
    const text = await readFile(join(lists, file), 'utf8');
    for (const paragraph of text.split(/\n\n+/)) {
      const name = fields.package.exec(paragraph)?.[1];
      if (name !== undefined) {
        const version = fields.version.exec(paragraph)?.[1] ?? '?';
        seen.add(`${name} ${version} ${fields.architecture.exec(paragraph)?.[1] ?? '?'}`);
      }
    }
  }
  return seen;
}

function compareLists(
  seen: ReadonlySet<string>,
  expected: readonly PackageSpec[],
): string | undefined {
  const wanted = new Set(expected.map((p) => `${p.name} ${p.version} ${p.architecture}`));
  const missing = [...wanted].filter((k) => !seen.has(k));
  const extra = [...seen].filter((k) => !wanted.has(k));
  if (missing.length === 0 && extra.length === 0) {
    return undefined;
  }
  return (
    `apt sees ${seen.size} packages, expected ${wanted.size}: ${missing.length} missing ` +
    `(${missing.slice(0, 3).join('; ')}), ${extra.length} unexpected (${extra.slice(0, 3).join('; ')})`
  );
}
