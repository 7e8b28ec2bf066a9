/**
 * `npm run bench:push`: from `git push` (to a bare repository with kiln's
 * hook, installed by `kiln hook install`, template of `debian-pipeline`) to
 * "installable with apt" (apt-get update + install -s from kiln's repository)
 * for the test fixture, against the raw steps done by hand in the same run:
 * dpkg-source -b, the same binary build in the same sandbox
 * (bench/support/raw-debian-build.ts), reprepro includedeb + export, and the
 * same apt-get update + install -s. Target: kiln's added latency ≤ 3 s.
 *   node bench/push-to-apt.ts [--runs N] [--image-dir DIR]
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { listImages, pickImage } from '../src/worker/debian/images.ts';
import { createAptClient, markLibcInstalled, type AptClient } from '../test/helpers/apt.ts';
import { makeDebianFixture } from '../test/helpers/debian-fixture.ts';
import { createGpgKey } from './apt/gpg-key.ts';
import { describeError, formatLoad, progress } from './support/console.ts';
import { startKilnServer, type KilnServer } from './support/kiln-server.ts';
import { startKilnWorker } from './support/kiln-worker.ts';
import { rawBinaryBuild } from './support/raw-debian-build.ts';

const exec = promisify(execFile);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const target = 3;
const name = 'hello-kiln';
const gitEnv = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null' };
const git = (cwd: string, ...args: string[]) =>
  exec('git', ['-c', 'user.name=kiln', '-c', 'user.email=kiln@localhost', ...args], {
    cwd,
    env: gitEnv,
  });

async function seconds<T>(work: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const value = await work();
  return [(performance.now() - start) / 1000, value];
}

/** apt-get update, then a simulated install of the fixture; throws unless it would install `version`. */
async function installable(apt: AptClient, version: string): Promise<void> {
  await apt.update();
  const simulated = await apt.aptGet('install', '-s', name);
  if (simulated.code !== 0 || !simulated.output.includes(`Inst ${name} (${version}`)) {
    throw new Error(`apt-get install -s ${name} does not install ${version}:\n${simulated.output}`);
  }
}

/** One kiln round: bump the version, push, wait for the run, then apt until installable. */
async function kilnRound(kiln: KilnServer, work: string, apt: AptClient, version: string) {
  const changelog = join(work, 'debian', 'changelog');
  const entry = `${name} (${version}) unstable; urgency=medium\n\n  * Bench.\n\n -- kiln tests <kiln@localhost>  Tue, 24 Nov 2026 12:00:00 +0000\n\n`;
  await writeFile(changelog, entry + (await readFile(changelog, 'utf8')));
  await git(work, 'commit', '-q', '-a', '-m', version);
  return seconds(async () => {
    const pushed = await git(work, 'push', '-q', 'origin', 'main');
    const id = /kiln: run (\d+) started/.exec(pushed.stderr)?.[1];
    if (id === undefined) {
      throw new Error(`the hook started no run: ${pushed.stderr}`);
    }
    for (;;) {
      const run = (await kiln.call('GET', `/api/v1/runs/${id}`)) as Record<string, unknown>;
      if (run['status'] !== 'running') {
        if (run['result'] !== 'success') {
          throw new Error(`run ${id} ended ${String(run['result'])}: ${String(run['message'])}`);
        }
        break;
      }
      await sleep(50);
    }
    await installable(apt, version);
  });
}

/** The raw steps by hand on a clone of the same commit, each timed. */
async function rawRound(options: {
  clone: string;
  imageRoot: string;
  aptArchives: string;
  work: string;
  reprepro: (args: string[]) => Promise<unknown>;
  apt: AptClient;
  version: string;
}) {
  const sourceDir = join(options.work, `raw-source-${options.version}`);
  await mkdir(sourceDir, { recursive: true });
  const [source] = await seconds(() =>
    exec('dpkg-source', ['-i', '-b', options.clone], { cwd: sourceDir }),
  );
  const dscName = `${name}_${options.version}.dsc`;
  const [binary] = await seconds(() =>
    rawBinaryBuild({
      imageRoot: options.imageRoot,
      aptArchives: options.aptArchives,
      sourceDir,
      dscName,
      work: options.work,
      signal: AbortSignal.timeout(3600_000),
      keep: join(options.work, `raw-debs-${options.version}`),
    }),
  );
  const debs = join(options.work, `raw-debs-${options.version}`);
  const deb = join(debs, `${name}_${options.version}_amd64.deb`);
  const [publish] = await seconds(async () => {
    await options.reprepro(['--export=silent-never', 'includedeb', 'bookworm', deb]);
    await options.reprepro(['export', 'bookworm']);
  });
  const [apt] = await seconds(() => installable(options.apt, options.version));
  return { source, binary, publish, apt, total: source + binary + publish + apt };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '1' },
      'image-dir': { type: 'string', default: '/var/cache/kiln/images' },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`--runs: ${values.runs} is not a positive number`);
  }
  const imageDir = values['image-dir'];
  const image = pickImage(await listImages(imageDir), 'bookworm', 'amd64', 'amd64');
  if (image === undefined) {
    throw new Error(`no bookworm amd64 image in ${imageDir}: run npm run bench:debian once`);
  }
  progress(`load average ${formatLoad()}; image ${image.name}`);
  await using cleanup = new AsyncDisposableStack();
  const work = await mkdtemp(join(tmpdir(), 'kiln-bench-push-'));
  cleanup.defer(() => rm(work, { recursive: true, force: true }));

  const kiln = cleanup.use(await startKilnServer(repoRoot, join(work, 'server')));
  await kiln.call('POST', '/api/v1/workspaces', { name: 'bench' });
  await kiln.call('PATCH', '/api/v1/workspaces/bench', { public: true });
  await kiln.call('POST', '/api/v1/workspaces/bench/repositories', {
    name: 'main',
    suites: [{ codename: 'bookworm', suite: 'stable', architectures: ['amd64'] }],
  });
  await kiln.call('POST', '/api/v1/workspaces/bench/workflows', {
    name: 'deb',
    workflow: 'debian-pipeline',
    parameters: { repository: 'main', suite: 'bookworm', architectures: ['amd64'] },
  });
  const enrolment = (await kiln.call('POST', '/api/v1/workers/enrolment-tokens', {})) as {
    token: string;
  };
  const worker = await startKilnWorker(kiln, enrolment.token, join(work, 'worker'), imageDir);
  cleanup.defer(() => worker.stop('SIGTERM', 10_000));
  const keyResponse = await fetch(`${kiln.url}/api/v1/workspaces/bench/repositories/main/key`);
  const kilnApt = await createAptClient(join(work, 'apt-kiln'), {
    uri: `${kiln.url}/repos/bench/main`,
    suite: 'bookworm',
    components: ['main'],
    architectures: ['amd64'],
    key: await keyResponse.text(),
  });
  await markLibcInstalled(kilnApt);

  const repo = await makeDebianFixture(join(work, name), { name });
  const bare = join(work, `${name}.git`);
  await exec('git', ['init', '--bare', '-q', bare]);
  await exec(
    join(repoRoot, 'bin/kiln'),
    ['--server', kiln.url, '--token', kiln.token, 'hook', 'install', bare].concat([
      '--workspace',
      'bench',
      '--template',
      'deb',
      '--ref',
      'refs/heads/main',
    ]),
    { env: { ...process.env, XDG_CONFIG_HOME: join(work, 'config') } },
  );
  await git(repo, 'remote', 'add', 'origin', bare);

  const key = cleanup.use(await createGpgKey(join(work, 'gpg'), AbortSignal.timeout(60_000)));
  const base = join(work, 'reprepro');
  await mkdir(join(base, 'conf'), { recursive: true });
  await writeFile(
    join(base, 'conf', 'distributions'),
    `Codename: bookworm\nSuite: stable\nComponents: main\nArchitectures: amd64\nSignWith: ${key.fingerprint}\n`,
  );
  const reprepro = (args: string[]) =>
    exec('reprepro', ['--basedir', base, ...args], { env: key.env });
  const { stdout: armored } = await exec('gpg', ['--batch', '--armor', '--export'], {
    env: key.env,
  });
  const rawApt = await createAptClient(join(work, 'apt-raw'), {
    uri: pathToFileURL(base).href,
    suite: 'bookworm',
    components: ['main'],
    architectures: ['amd64'],
    key: armored,
  });
  await markLibcInstalled(rawApt);
  progress(`kiln serve at ${kiln.url}, one kiln worker, hook installed in ${bare}`);

  const kilnTimes: number[] = [];
  const rawTimes: Awaited<ReturnType<typeof rawRound>>[] = [];
  for (let i = 0; i < runs; i++) {
    const version = `1.${i + 1}`;
    const [kilnSeconds] = await kilnRound(kiln, repo, kilnApt, version);
    kilnTimes.push(kilnSeconds);
    progress(`run ${i + 1}: kiln push → installable ${kilnSeconds.toFixed(2)} s`);
    const clone = join(work, `clone-${version}`);
    await git(work, 'clone', '-q', repo, clone);
    const raw = await rawRound({
      clone,
      imageRoot: image.path,
      aptArchives: join(imageDir, 'apt-archives'),
      work,
      reprepro,
      apt: rawApt,
      version,
    });
    rawTimes.push(raw);
    progress(`run ${i + 1}: raw steps ${raw.total.toFixed(2)} s`);
  }
  const median = (values: readonly number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  const kilnMedian = median(kilnTimes);
  const rawMedian = median(rawTimes.map((r) => r.total));
  const step = (key: 'source' | 'binary' | 'publish' | 'apt') =>
    median(rawTimes.map((r) => r[key])).toFixed(2);
  const added = kilnMedian - rawMedian;
  process.stdout.write(
    [
      '',
      `git push → installable with apt (${name}, bookworm amd64), median of ${runs} (s)`,
      `  kiln (push, hook, debian-pipeline run, publish, apt-get update + install -s)  ${kilnMedian.toFixed(2)}`,
      `  raw steps by hand: dpkg-source -b ${step('source')} + binary build in the same sandbox ${step('binary')}` +
        ` + reprepro includedeb + export ${step('publish')} + apt-get update + install -s ${step('apt')} = ${rawMedian.toFixed(2)}`,
      `  kiln's added latency ${added.toFixed(2)} s, target <= ${target} s: ${added <= target ? 'PASS' : 'FAIL'}`,
      `  load average ${formatLoad()}`,
      '',
    ].join('\n'),
  );
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench:push failed: ${describeError(error)}\n`);
  process.exitCode = 1;
}
