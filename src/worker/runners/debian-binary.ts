import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Artifact } from '../../protocol/artifacts.schema.ts';
import {
  describeLocalFile,
  downloadFiles,
  uploadMissing,
  type LocalFile,
} from '../../client/transfer.ts';
import { parseDeb822, stripClearsign } from '../../debian/deb822.ts';
import { readSourceControl, versionWithoutEpoch } from '../debian/dsc.ts';
import {
  createHostEnvironment,
  createUnshareEnvironment,
  type BuildEnvironment,
} from '../debian/environment.ts';
import {
  buildImage,
  defaultMirror,
  listImages,
  pickImage,
  withImageLock,
  type Image,
} from '../debian/images.ts';
import { quietDocsCommand } from '../debian/quiet-docs.ts';
import type { TaskContext, TaskOutcome, TaskRunner } from '../runner.ts';

const execFileAsync = promisify(execFile);

export interface BinaryInput {
  readonly source_artifact: number;
  readonly distribution: string;
  readonly build_architecture: string;
  readonly host_architecture?: string;
  readonly arch_any?: boolean;
  readonly arch_all?: boolean;
  readonly profiles?: readonly string[];
  readonly build_options?: string;
  readonly binnmu?: { readonly suffix: number; readonly changelog: string };
  readonly executor?: 'unshare' | 'host';
}

/** Where the worker keeps images and the apt archive cache builds share. */
export interface DebianSettings {
  readonly imageDir: string;
  readonly mirror: string;
  /** Free disk a build needs before it starts, in bytes. */
  readonly minFreeDisk: number;
}

/**
 * `debian:binary`: builds binary packages from a `debian:source-package`
 * artifact for a distribution, natively or cross (`--host-arch`), in a fresh
 * overlay of a base image: build dependencies installed with apt (network on),
 * then dpkg-buildpackage as an unprivileged user with no network. The .debs
 * become a `debian:binary-packages` artifact and the .changes and .buildinfo a
 * `debian:upload` one; both are `built-using` the source (the server links
 * every output of a task to its inputs). A build that fails is a `failure`
 * result with its log, not an error.
 */
export function createDebianBinaryRunner(settings: DebianSettings): TaskRunner {
  return {
    type: 'debian:binary',
    async run(context) {
      const input = context.assignment.input as unknown as BinaryInput;
      const hostArch = input.host_architecture ?? input.build_architecture;
      const disk = await statfs(context.workDir);
      if (disk.bavail * disk.bsize < settings.minFreeDisk) {
        return {
          result: 'error',
          reason: 'disk',
          message: `less than ${settings.minFreeDisk} bytes free in ${context.workDir}`,
        };
      }
      const buildDir = join(context.workDir, 'build');
      const sourceDir = join(buildDir, 'source');
      await mkdir(sourceDir, { recursive: true });
      const source = await context.client.json<Artifact>(
        'GET',
        `/api/v1/artifacts/${input.source_artifact}`,
      );
      if (source.type !== 'debian:source-package') {
        return {
          result: 'error',
          reason: 'input',
          message: `artifact ${source.id} is a ${source.type}, not a debian:source-package`,
        };
      }
      await downloadFiles(context.client, source, undefined, sourceDir);
      const dscName = source.files.find((f) => f.path.endsWith('.dsc'))?.path;
      if (dscName === undefined) {
        return { result: 'error', reason: 'input', message: `artifact ${source.id} has no .dsc` };
      }
      const environment =
        (input.executor ?? 'unshare') === 'host'
          ? createHostEnvironment(buildDir)
          : await createUnshareEnvironment({
              imageRoot: (
                await ensureImage(
                  settings,
                  input.distribution,
                  input.build_architecture,
                  hostArch,
                  context,
                )
              ).path,
              scratch: join(context.workDir, 'sandbox'),
              buildDir,
              aptArchives: join(settings.imageDir, 'apt-archives'),
            });
      try {
        return await build(context, environment, input, hostArch, dscName);
      } finally {
        await environment.destroy();
      }
    },
  };
}

async function ensureImage(
  settings: DebianSettings,
  distribution: string,
  architecture: string,
  hostArch: string,
  context: TaskContext,
): Promise<Image> {
  const find = async () =>
    pickImage(await listImages(settings.imageDir), distribution, architecture, hostArch);
  const existing = await find();
  if (existing !== undefined) {
    context.log(`kiln: image ${existing.name} (made ${existing.createdAt})\n`);
    return existing;
  }
  context.log(`kiln: no image for ${distribution} ${architecture}; waiting for the image lock\n`);
  // Another worker sharing the directory may be building it: look again under the lock.
  return withImageLock(settings.imageDir, context.signal, async () => {
    const made = await find();
    if (made !== undefined) {
      context.log(`kiln: image ${made.name} made meanwhile (${made.createdAt})\n`);
      return made;
    }
    return buildImage(
      settings.imageDir,
      {
        distribution,
        architecture,
        cross: hostArch === architecture ? [] : [hostArch],
        mirror: settings.mirror,
      },
      { onOutput: context.log, signal: context.signal },
    );
  });
}

async function build(
  context: TaskContext,
  env: BuildEnvironment,
  input: BinaryInput,
  hostArch: string,
  dscName: string,
): Promise<TaskOutcome> {
  const limit = context.assignment.time_limit * 1000;
  const step = async (
    title: string,
    argv: string[],
    options: { network: boolean; asRoot: boolean; cwd?: string; env?: Record<string, string> },
  ) => {
    context.log(`\nkiln: ${title}\n$ ${argv.join(' ')}\n`);
    const started = performance.now();
    const result = await env.run(argv, {
      ...options,
      timeLimitMs: limit,
      signal: context.signal,
      onOutput: context.log,
    });
    context.log(
      `kiln: ${title}: exit status ${result.code ?? result.signal ?? '?'} after ${((performance.now() - started) / 1000).toFixed(2)} s\n`,
    );
    if (result.stoppedBecause === 'timeout') {
      throw new StepFailed({
        result: 'failure',
        reason: 'timeout',
        message: `${title}: stopped after the time limit`,
      });
    }
    return result.code === 0;
  };
  const root = env.root;
  const cross = hostArch !== input.build_architecture;
  const profiles = input.profiles ?? [];
  const pkg = `${root}/pkg`;
  try {
    if (
      !(await step(
        'unpacking the source',
        ['dpkg-source', '--no-check', '-x', `${root}/source/${dscName}`, pkg],
        { network: false, asRoot: true },
      ))
    ) {
      return { result: 'failure', reason: 'dpkg-source', message: 'dpkg-source -x failed' };
    }
    if (env.kind === 'unshare') {
      // In the sandbox's overlay only: the host executor's system is the owner's.
      await step('skipping manual pages', [...quietDocsCommand], { network: false, asRoot: true });
      // sbuild's cross set-up: the cross toolchain and the host libc (present in cross images).
      const crossTools = [
        'apt-get',
        'install',
        '-y',
        '--no-install-recommends',
        `crossbuild-essential-${hostArch}`,
        `libc6-dev:${hostArch}`,
      ];
      if (
        cross &&
        !(await step('installing the cross toolchain', crossTools, { network: true, asRoot: true }))
      ) {
        return {
          result: 'failure',
          reason: 'build-dependencies',
          message: `no cross toolchain for ${hostArch}`,
        };
      }
      const buildDep = [
        'apt-get',
        'build-dep',
        '-y',
        '--no-install-recommends',
        ...(cross ? ['--host-architecture', hostArch] : []),
        ...(profiles.length > 0 ? ['-P', profiles.join(',')] : []),
        ...((input.arch_all ?? false) ? [] : ['--arch-only']),
        pkg,
      ];
      const installed =
        (await step('installing build dependencies', buildDep, { network: true, asRoot: true })) ||
        ((await step('refreshing package lists', ['apt-get', 'update'], {
          network: true,
          asRoot: true,
        })) &&
          (await step('installing build dependencies (again)', buildDep, {
            network: true,
            asRoot: true,
          })));
      if (!installed) {
        return {
          result: 'failure',
          reason: 'build-dependencies',
          message: 'the build dependencies could not be installed',
        };
      }
    } else if (
      !(await step(
        'checking build dependencies (host executor: not installed for you)',
        ['dpkg-checkbuilddeps', ...(cross ? [`-a${hostArch}`] : [])],
        { network: true, asRoot: true, cwd: pkg },
      ))
    ) {
      return {
        result: 'failure',
        reason: 'build-dependencies',
        message: 'build dependencies are missing on this host',
      };
    }
    if (input.binnmu !== undefined) {
      await addBinNmuEntry(join(context.workDir, 'build', 'pkg'), input.binnmu, input.distribution);
    }
    const anyArch = input.arch_any ?? true;
    const allArch = input.arch_all ?? false;
    const which = anyArch && allArch ? '-b' : allArch ? '-A' : '-B';
    const built = await step(
      `building (${cross ? `cross, ${input.build_architecture} → ${hostArch}` : hostArch}, no network)`,
      [
        'dpkg-buildpackage',
        '-us',
        '-uc',
        which,
        ...(cross ? [`--host-arch=${hostArch}`] : []),
        ...(profiles.length > 0 ? [`-P${profiles.join(',')}`] : []),
      ],
      {
        network: false,
        asRoot: false,
        cwd: pkg,
        env: {
          ...(input.build_options === undefined ? {} : { DEB_BUILD_OPTIONS: input.build_options }),
          ...(profiles.length > 0 ? { DEB_BUILD_PROFILES: profiles.join(' ') } : {}),
        },
      },
    );
    if (!built) {
      return {
        result: 'failure',
        reason: 'build',
        message: 'dpkg-buildpackage failed: see the build log',
      };
    }
  } catch (error) {
    if (error instanceof StepFailed) {
      return error.outcome;
    }
    throw error;
  }
  return saveOutputs(context, join(context.workDir, 'build'), input);
}

class StepFailed extends Error {
  readonly outcome: TaskOutcome;
  constructor(outcome: TaskOutcome) {
    super(outcome.message);
    this.outcome = outcome;
  }
}

/**
 * Adds the changelog entry of a binary-only rebuild (a binNMU): version
 * `<version>+b<N>`, `binary-only=yes`, as sbuild and wanna-build write it.
 */
async function addBinNmuEntry(
  pkgDir: string,
  binnmu: { suffix: number; changelog: string },
  distribution: string,
): Promise<void> {
  const path = join(pkgDir, 'debian', 'changelog');
  const current = await readFile(path, 'utf8');
  const header = /^(\S+) \(([^)]+)\)/.exec(current);
  if (header?.[1] === undefined || header[2] === undefined) {
    throw new StepFailed({
      result: 'failure',
      reason: 'bad-changelog',
      message: 'debian/changelog has no first entry',
    });
  }
  const entry = [
    `${header[1]} (${header[2]}+b${binnmu.suffix}) ${distribution}; urgency=low, binary-only=yes`,
    '',
    ...binnmu.changelog.split('\n').map((line) => `  * ${line}`),
    '',
    ` -- kiln <kiln@localhost>  ${new Date().toUTCString().replace('GMT', '+0000')}`,
    '',
    '',
  ].join('\n');
  await writeFile(path, entry + current);
}

async function saveOutputs(
  context: TaskContext,
  buildDir: string,
  input: BinaryInput,
): Promise<TaskOutcome> {
  const names = await readdir(buildDir);
  const debs = names.filter((n) => n.endsWith('.deb') || n.endsWith('.udeb')).sort();
  if (debs.length === 0) {
    return {
      result: 'failure',
      reason: 'no-packages',
      message: 'the build made no binary packages',
    };
  }
  const packages: Record<string, unknown>[] = [];
  const debFiles: LocalFile[] = [];
  for (const name of debs) {
    const { stdout } = await execFileAsync('dpkg-deb', ['-f', join(buildDir, name)]);
    const [control] = parseDeb822(stdout);
    packages.push({ file: name, ...control?.toObject() });
    debFiles.push(await describeLocalFile(name, join(buildDir, name)));
  }
  const dsc = await readSourceControl(
    join(
      buildDir,
      'source',
      (await readdir(join(buildDir, 'source'))).find((n) => n.endsWith('.dsc')) ?? '',
    ),
  );
  const sourceName = dsc.fields.get('Source') ?? '';
  const version =
    (dsc.fields.get('Version') ?? '') +
    (input.binnmu === undefined ? '' : `+b${input.binnmu.suffix}`);
  const architectures = [...new Set(packages.map((p) => String(p['Architecture'])))].sort();
  const workspace = `/api/v1/workspaces/${encodeURIComponent(context.assignment.workspace)}/artifacts`;
  const binaries = await createWithFiles(
    context,
    workspace,
    {
      type: 'debian:binary-packages',
      data: {
        srcpkg_name: sourceName,
        srcpkg_version: version,
        version,
        architectures,
        distribution: input.distribution,
        packages,
      },
    },
    debFiles,
  );
  const changesName = `${sourceName}_${versionWithoutEpoch(version)}_${input.host_architecture ?? input.build_architecture}.changes`;
  const uploadFiles: LocalFile[] = [];
  for (const name of names
    .filter((n) => n.endsWith('.changes') || n.endsWith('.buildinfo'))
    .sort()) {
    uploadFiles.push(await describeLocalFile(name, join(buildDir, name)));
  }
  const changesText = names.includes(changesName)
    ? await readFile(join(buildDir, changesName), 'utf8')
    : undefined;
  const changes =
    changesText === undefined ? undefined : parseDeb822(stripClearsign(changesText))[0];
  const upload = await createWithFiles(
    context,
    workspace,
    {
      type: 'debian:upload',
      data: { type: 'dpkg', changes_fields: changes?.toObject() ?? {} },
      relations: [{ type: 'extends', target: binaries.id }],
    },
    uploadFiles,
  );
  context.log(
    `\nkiln: saved artifacts ${binaries.id} (debian:binary-packages: ${debs.join(', ')}) and ${upload.id} (debian:upload)\n`,
  );
  return {
    result: 'success',
    output: { binary_packages: binaries.id, upload: upload.id, packages: debs, architectures },
  };
}

async function createWithFiles(
  context: TaskContext,
  url: string,
  body: Record<string, unknown>,
  files: readonly LocalFile[],
): Promise<Artifact> {
  const created = await context.client.json<Artifact>('POST', url, {
    ...body,
    files: files.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
  });
  await uploadMissing(context.client, created.id, created.files, files);
  return created;
}

export { defaultMirror };
