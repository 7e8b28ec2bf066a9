import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  buildImage,
  defaultMirror,
  listImages,
  removeImage,
  withImageLock,
} from './debian/images.ts';
import { detectArchitecture } from './metadata.ts';

export const imageUsage = `Usage: kiln worker image <command> [options]

Base images for Debian builds (mmdebstrap, buildd variant), kept in the image directory.
  build DIST [--arch A] [--cross A,B]   make an image (with cross toolchains for A,B)
  list                                   the images
  refresh NAME                           build an image again from the mirror
  remove NAME                            delete an image

Options:
  --image-dir DIR   KILN_IMAGE_DIR (default: <tmp>/kiln-worker-<host>/images, as the worker)
  --mirror URL      KILN_MIRROR (default: ${defaultMirror})
`;

/** `kiln worker image ...`: prepares the worker's build images on this machine. */
export async function imageCommand(
  args: readonly string[],
  defaultImageDir: string,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        'image-dir': { type: 'string' },
        mirror: { type: 'string' },
        arch: { type: 'string' },
        cross: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    process.stderr.write(`kiln worker image: ${(error as Error).message}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, name] = positionals;
  const dir = resolve(values['image-dir'] ?? process.env['KILN_IMAGE_DIR'] ?? defaultImageDir);
  const mirror = values.mirror ?? process.env['KILN_MIRROR'] ?? defaultMirror;
  const say = (text: string) => process.stderr.write(text);
  const abort = new AbortController();
  process.once('SIGINT', () => {
    abort.abort();
  });
  switch (command) {
    case 'list': {
      for (const image of await listImages(dir)) {
        process.stdout.write(`${image.name.padEnd(32)} ${image.createdAt}  ${image.mirror}\n`);
      }
      return 0;
    }
    case 'build':
    case 'refresh': {
      if (name === undefined) {
        process.stderr.write(
          `kiln worker image ${command}: which ${command === 'build' ? 'distribution' : 'image'}?\n`,
        );
        return 2;
      }
      const spec =
        command === 'refresh'
          ? (await listImages(dir)).find((image) => image.name === name)
          : {
              distribution: name,
              architecture: values.arch ?? (await detectArchitecture()),
              cross: (values.cross ?? '').split(',').filter((c) => c.length > 0),
              mirror,
            };
      if (spec === undefined) {
        process.stderr.write(`kiln worker image refresh: no image ${name} in ${dir}\n`);
        return 1;
      }
      await mkdir(dir, { recursive: true });
      const started = Date.now();
      try {
        const image = await withImageLock(dir, abort.signal, () =>
          buildImage(dir, spec, { onOutput: say, signal: abort.signal }),
        );
        say(
          `image ${image.name} ready in ${((Date.now() - started) / 1000).toFixed(0)} s: ${image.path}\n`,
        );
        return 0;
      } catch (error) {
        process.stderr.write(`kiln worker image: ${(error as Error).message}\n`);
        return 1;
      }
    }
    case 'remove': {
      if (name === undefined || !(await removeImage(dir, name))) {
        process.stderr.write(
          `kiln worker image remove: no image ${name ?? '(none given)'} in ${dir}\n`,
        );
        return 1;
      }
      say(`image ${name} removed\n`);
      return 0;
    }
    default:
      process.stdout.write(imageUsage);
      return command === undefined || command === 'help' ? 0 : 2;
  }
}

/** The image directory a worker uses when not told: under its default work dir. */
export function defaultImageDir(name: string): string {
  return join(tmpdir(), `kiln-worker-${name}`, 'images');
}
