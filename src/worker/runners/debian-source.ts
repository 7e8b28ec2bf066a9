import { copyFile, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createGzip } from 'node:zlib';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { spawn } from 'node:child_process';
import type { Artifact } from '../../protocol/artifacts.schema.ts';
import { describeLocalFile, uploadMissing, type LocalFile } from '../../client/transfer.ts';
import { readSourceControl, upstreamVersion, versionWithoutEpoch } from '../debian/dsc.ts';
import { fetchRef, git, type GitOptions } from '../debian/git.ts';
import { runInProcessGroup } from '../process-group.ts';
import type { TaskContext, TaskOutcome, TaskRunner } from '../runner.ts';

interface SourceInput {
  readonly url: string;
  readonly ref: string;
  readonly subdir?: string;
}

/**
 * `debian:source`: clones a git repository at a ref and builds its Debian
 * source package with dpkg-source: 3.0 (native), or 3.0 (quilt) with the
 * upstream tarball from the repository, the pristine-tar branch or an
 * `upstream/<version>` tag (git-buildpackage's conventions). The .dsc and its
 * files become a `debian:source-package` artifact: the farm's copy of the
 * source, so binary builds never fetch from the forge again.
 */
export const debianSourceRunner: TaskRunner = {
  type: 'debian:source',
  async run(context) {
    const input = context.assignment.input as unknown as SourceInput;
    const checkout = join(context.workDir, 'git');
    await mkdir(checkout, { recursive: true });
    const gitOptions: GitOptions = { cwd: checkout, signal: context.signal, log: context.log };
    const fetched = await fetchRef(input.url, input.ref, gitOptions);
    if ('error' in fetched) {
      return { result: 'error', reason: 'git', message: fetched.error };
    }
    const pkgDir = resolve(checkout, input.subdir ?? '.');
    if (!pkgDir.startsWith(checkout) || !(await exists(join(pkgDir, 'debian', 'changelog')))) {
      return {
        result: 'failure',
        reason: 'no-debian-directory',
        message: `no debian/changelog in ${input.subdir ?? 'the repository'} at ${input.ref}`,
      };
    }
    const changelog = await parseChangelog(pkgDir, context);
    if (changelog === undefined) {
      return {
        result: 'failure',
        reason: 'bad-changelog',
        message: 'dpkg-parsechangelog could not read debian/changelog',
      };
    }
    const format = (
      await readFile(join(pkgDir, 'debian', 'source', 'format'), 'utf8').catch(() => '1.0')
    ).trim();
    context.log(`kiln: ${changelog.source} ${changelog.version}, format ${format}\n`);
    const outDir = dirname(pkgDir);
    if (format === '3.0 (quilt)') {
      const orig = await provideOrigTarball(checkout, outDir, changelog, gitOptions);
      if (orig === undefined) {
        return {
          result: 'failure',
          reason: 'no-upstream-tarball',
          message: `no upstream tarball for ${changelog.source} ${upstreamVersion(changelog.version)}: none in the repository, no pristine-tar data, no upstream/${gbpTag(upstreamVersion(changelog.version))} tag`,
        };
      }
      context.log(`kiln: upstream tarball ${orig}\n`);
    }
    const built = await runInProcessGroup(['dpkg-source', '-I', '-b', basename(pkgDir)], {
      cwd: outDir,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C.UTF-8' },
      timeLimitMs: context.assignment.time_limit * 1000,
      signal: context.signal,
      onOutput: context.log,
    });
    if (built.code !== 0) {
      return {
        result: 'failure',
        reason: 'dpkg-source',
        message: `dpkg-source -b failed (exit status ${built.code ?? '?'})`,
      };
    }
    const dscName = `${changelog.source}_${versionWithoutEpoch(changelog.version)}.dsc`;
    const dsc = await readSourceControl(join(outDir, dscName));
    const files: LocalFile[] = [];
    for (const name of [dscName, ...dsc.files]) {
      files.push(await describeLocalFile(name, join(outDir, name)));
    }
    const artifact = await context.client.json<Artifact>(
      'POST',
      `/api/v1/workspaces/${encodeURIComponent(context.assignment.workspace)}/artifacts`,
      {
        type: 'debian:source-package',
        data: {
          name: changelog.source,
          version: changelog.version,
          type: 'dpkg',
          dsc_fields: dsc.fields.toObject(),
          git: {
            url: input.url,
            ref: input.ref,
            commit: fetched.commit,
            subdir: input.subdir ?? null,
          },
        },
        files: files.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
      },
    );
    await uploadMissing(context.client, artifact.id, artifact.files, files);
    context.log(`kiln: source package saved as artifact ${artifact.id}\n`);
    return {
      result: 'success',
      output: {
        artifact: artifact.id,
        source: changelog.source,
        version: changelog.version,
        commit: fetched.commit,
      },
    } satisfies TaskOutcome;
  },
};

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function parseChangelog(
  pkgDir: string,
  context: TaskContext,
): Promise<{ source: string; version: string } | undefined> {
  let text = '';
  const result = await runInProcessGroup(['dpkg-parsechangelog', '-l', 'debian/changelog'], {
    cwd: pkgDir,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C.UTF-8' },
    timeLimitMs: 60_000,
    signal: context.signal,
    onOutput: (chunk) => {
      text += chunk;
    },
  });
  const source = /^Source: (.+)$/m.exec(text)?.[1]?.trim();
  const version = /^Version: (.+)$/m.exec(text)?.[1]?.trim();
  return result.code === 0 && source !== undefined && version !== undefined
    ? { source, version }
    : undefined;
}

/** git-buildpackage's tag name mangling of a version (`~` → `_`, `:` → `%`). */
export function gbpTag(version: string): string {
  return version.replaceAll('~', '_').replaceAll(':', '%');
}

const tarballSuffixes = ['gz', 'xz', 'bz2', 'lzma'];

/**
 * Puts `<source>_<upstream>.orig.tar.*` next to the package directory and
 * returns its name: from the repository (its root or `../tarballs`), from the
 * pristine-tar branch, or made with `git archive` from the upstream tag.
 */
async function provideOrigTarball(
  checkout: string,
  outDir: string,
  changelog: { source: string; version: string },
  gitOptions: GitOptions,
): Promise<string | undefined> {
  const upstream = upstreamVersion(changelog.version);
  const stem = `${changelog.source}_${upstream}.orig.tar.`;
  for (const dir of [
    outDir,
    checkout,
    join(checkout, 'tarballs'),
    join(dirname(checkout), 'tarballs'),
  ]) {
    const found = (await readdir(dir).catch(() => [] as string[])).find(
      (name) => name.startsWith(stem) && tarballSuffixes.includes(name.slice(stem.length)),
    );
    if (found !== undefined) {
      if (dir !== outDir) {
        await copyFile(join(dir, found), join(outDir, found));
      }
      return found;
    }
  }
  const tag = `upstream/${gbpTag(upstream)}`;
  const hasTag = (await git(['fetch', '-q', '--depth', '1', 'origin', 'tag', tag], gitOptions)).ok;
  if ((await git(['fetch', '-q', 'origin', 'pristine-tar:pristine-tar'], gitOptions)).ok) {
    const list = await git(['show', 'pristine-tar:'], gitOptions);
    const name = list.output
      .split('\n')
      .map((l) => l.trim().replace(/\.(delta|id|asc)$/, ''))
      .find((l) => l.startsWith(stem));
    if (name !== undefined) {
      const made = await runInProcessGroup(['pristine-tar', 'checkout', join(outDir, name)], {
        cwd: checkout,
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: checkout },
        timeLimitMs: 600_000,
        signal: gitOptions.signal,
        onOutput: gitOptions.log,
      });
      if (made.code === 0) {
        return name;
      }
    }
  }
  if (!hasTag) {
    return undefined;
  }
  const name = `${stem}gz`;
  const archive = spawn(
    'git',
    ['archive', '--format=tar', `--prefix=${changelog.source}-${upstream}/`, tag],
    {
      cwd: checkout,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  // gzip -n equivalent: no name or time in the header, so the tarball is reproducible.
  await pipeline(archive.stdout, createGzip({ level: 9 }), createWriteStream(join(outDir, name)));
  return name;
}
