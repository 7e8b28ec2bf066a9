import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runInProcessGroup } from '../process-group.ts';
import { lockFile } from './file-lock.ts';

/**
 * Base images for Debian builds: a minimal build system (mmdebstrap's buildd
 * variant, plus fakeroot and, for cross images, the cross toolchain and the
 * foreign architecture) per distribution and architecture, kept as directories
 * that each build overlays. Named `<dist>-<arch>` or `<dist>-<arch>+<cross>...`.
 */
export interface ImageSpec {
  readonly distribution: string;
  readonly architecture: string;
  readonly cross: readonly string[];
  readonly mirror: string;
}

export interface Image extends ImageSpec {
  readonly name: string;
  readonly path: string;
  readonly createdAt: string;
}

export const defaultMirror = 'http://deb.debian.org/debian';

export function imageName(
  spec: Pick<ImageSpec, 'distribution' | 'architecture' | 'cross'>,
): string {
  const cross = [...spec.cross].sort();
  return `${spec.distribution}-${spec.architecture}${cross.length === 0 ? '' : `+${cross.join('+')}`}`;
}

const safeName = /^[a-z0-9][a-z0-9.+-]*$/;

/** The images under `dir`, newest metadata first. */
export async function listImages(dir: string): Promise<Image[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const images: Image[] = [];
  for (const name of names.sort()) {
    const meta = await readFile(join(dir, name, 'kiln-image.json'), 'utf8').catch(() => undefined);
    if (meta !== undefined) {
      images.push({ ...(JSON.parse(meta) as Omit<Image, 'path'>), path: join(dir, name, 'root') });
    }
  }
  return images;
}

/**
 * Finds an image that can build for `hostArchitecture` on `architecture`: the
 * plain one for native builds, one with that cross toolchain otherwise.
 */
export function pickImage(
  images: readonly Image[],
  distribution: string,
  architecture: string,
  hostArchitecture: string,
): Image | undefined {
  const fits = images.filter(
    (i) => i.distribution === distribution && i.architecture === architecture,
  );
  if (hostArchitecture === architecture) {
    return fits.find((i) => i.cross.length === 0) ?? fits[0];
  }
  return fits.find((i) => i.cross.includes(hostArchitecture));
}

/**
 * Builds an image with mmdebstrap into a temporary directory and renames it
 * into place, so a half-built image is never used. Replaces an existing image
 * of the same name (a refresh).
 */
export async function buildImage(
  dir: string,
  spec: ImageSpec,
  options: { readonly onOutput: (text: string) => void; readonly signal: AbortSignal },
): Promise<Image> {
  const name = imageName(spec);
  if (
    !safeName.test(spec.distribution) ||
    !safeName.test(spec.architecture) ||
    !spec.cross.every((c) => safeName.test(c))
  ) {
    throw new Error(`not an image name: ${name}`);
  }
  const partial = join(dir, `.${name}.partial-${process.pid}`);
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  // Cross images carry the cross toolchain and the host architecture's libc
  // (dpkg-shlibdeps resolves the built binaries against it).
  const include = [
    'fakeroot',
    ...spec.cross.flatMap((arch) => [`crossbuild-essential-${arch}`, `libc6-dev:${arch}`]),
  ];
  options.onOutput(`kiln: building image ${name} from ${spec.mirror} with mmdebstrap\n`);
  const result = await runInProcessGroup(
    [
      'mmdebstrap',
      '--variant=buildd',
      `--architectures=${[spec.architecture, ...spec.cross].join(',')}`,
      `--include=${include.join(',')}`,
      // Keep apt's package lists: builds install their dependencies without a fresh update.
      '--skip=cleanup/apt/lists',
      spec.distribution,
      join(partial, 'root'),
      spec.mirror,
    ],
    {
      cwd: dir,
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
      timeLimitMs: 3600 * 1000,
      signal: options.signal,
      onOutput: options.onOutput,
    },
  );
  if (result.code !== 0) {
    await rm(partial, { recursive: true, force: true });
    throw new Error(
      `mmdebstrap failed to build ${name} (exit status ${result.code ?? result.signal ?? '?'})`,
    );
  }
  const image = { ...spec, name, createdAt: new Date().toISOString() };
  await writeFile(join(partial, 'kiln-image.json'), `${JSON.stringify(image, null, 2)}\n`);
  const target = join(dir, name);
  const old = join(dir, `.${name}.old-${process.pid}`);
  await rename(target, old).catch(() => undefined);
  await rename(partial, target);
  await rm(old, { recursive: true, force: true });
  return { ...image, path: join(target, 'root') };
}

/**
 * Runs `work` holding the lock of the image directory `dir` (`.images.lock`
 * in it), so that workers sharing the directory build one image at a time
 * and the second one can find the image made instead of building it again.
 */
export async function withImageLock<T>(
  dir: string,
  signal: AbortSignal,
  work: () => Promise<T>,
): Promise<T> {
  await mkdir(dir, { recursive: true });
  const lock = await lockFile(join(dir, '.images.lock'), signal);
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

export async function removeImage(dir: string, name: string): Promise<boolean> {
  if (!safeName.test(name)) {
    return false;
  }
  const target = join(dir, name);
  const meta = await readFile(join(target, 'kiln-image.json'), 'utf8').catch(() => undefined);
  if (meta === undefined) {
    return false;
  }
  await rm(target, { recursive: true, force: true });
  return true;
}
