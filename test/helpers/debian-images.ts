import { execFile } from 'node:child_process';
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe } from 'node:test';
import { promisify } from 'node:util';
import { childEnv, kilnBin } from './processes.ts';

const run = promisify(execFile);
const inCi = (process.env['CI'] ?? '') !== '';

/**
 * Where Debian tests keep their base images: a fixed directory, so an image is
 * made once per machine (the first run builds it with mmdebstrap, later runs
 * and every test file of a run share it). `KILN_TEST_IMAGE_DIR` moves it.
 */
export const testImageDir = process.env['KILN_TEST_IMAGE_DIR'] ?? '/var/cache/kiln/images';

export const testDistribution = 'bookworm';

/** The images the Debian tests build in: native amd64, and amd64 with arm64 cross tools. */
export const testImages = {
  native: { architecture: 'amd64', cross: [] as string[] },
  cross: { architecture: 'amd64', cross: ['arm64'] },
} as const;

const tools = [
  'mmdebstrap',
  'bwrap',
  'unshare',
  'dpkg-buildpackage',
  'dpkg-source',
  'file',
  'flock',
];

/** Why real Debian builds cannot run here, or `undefined` when they can. */
export async function debianBuildsUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) {
    return 'Debian builds need root (the sandbox mounts an overlay)';
  }
  if (process.arch !== 'x64') {
    return `the Debian tests build on amd64, and this is ${process.arch}`;
  }
  const missing: string[] = [];
  for (const tool of tools) {
    const found = await run('sh', ['-c', `command -v ${tool}`]).then(
      () => true,
      () => false,
    );
    if (!found) {
      missing.push(tool);
    }
  }
  return missing.length === 0
    ? undefined
    : `missing ${missing.join(', ')} (scripts/setup-debian.sh test installs them)`;
}

/**
 * Declares a suite of real Debian builds. Where they cannot run it is skipped,
 * except in CI, where that fails the run: nothing real is skipped there.
 */
export async function describeDebian(name: string, suite: () => void): Promise<void> {
  const unavailable = await debianBuildsUnavailable();
  if (unavailable === undefined) {
    describe(name, suite);
  } else if (inCi) {
    describe(name, () => {
      throw new Error(`CI is set but Debian builds cannot run: ${unavailable}`);
    });
  } else {
    describe(name, { skip: unavailable }, suite);
  }
}

/**
 * Makes sure the image exists in `testImageDir`, building it with
 * `kiln worker image build` if not. A lock file serialises test files that
 * want the same image at once: the one that comes second finds it made.
 */
export async function ensureTestImage(spec: {
  readonly architecture: string;
  readonly cross: readonly string[];
}): Promise<void> {
  const name = `${testDistribution}-${spec.architecture}${spec.cross.map((c) => `+${c}`).join('')}`;
  await mkdir(testImageDir, { recursive: true });
  const made = join(testImageDir, name, 'kiln-image.json');
  if (await exists(made)) {
    return;
  }
  const build = [
    kilnBin,
    'worker',
    'image',
    'build',
    testDistribution,
    '--arch',
    spec.architecture,
    ...(spec.cross.length === 0 ? [] : ['--cross', spec.cross.join(',')]),
    '--image-dir',
    testImageDir,
  ];
  // Checked again under the lock: another test file may have made it meanwhile.
  const script = 'made="$1"; shift; test -f "$made" || exec "$@"';
  await run(
    'flock',
    [join(testImageDir, '.test-images.lock'), 'sh', '-c', script, 'ensure', made, ...build],
    { env: childEnv(), maxBuffer: 64 * 1024 * 1024, timeout: 30 * 60 * 1000 },
  ).catch((error: unknown) => {
    const { stderr, message } = error as Error & { stderr?: string };
    throw new Error(`could not build the image ${name}: ${stderr ?? message}`, { cause: error });
  });
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
