import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { quietDocsCommand } from '../../src/worker/debian/quiet-docs.ts';
import { createSandbox, type SandboxRunOptions } from '../../src/worker/debian/sandbox.ts';

/** One raw build's steps, in seconds. */
export interface RawTimes {
  readonly sandbox: number;
  readonly unpack: number;
  readonly dependencies: number;
  readonly build: number;
  readonly cleanup: number;
  readonly total: number;
}

/**
 * What a person does by hand for the build kiln's `debian:binary` runs: the
 * same sandbox (an overlay of the image entered with bubblewrap, the shared
 * apt package pool), the same commands, in the same order, as root for
 * installing and as the build user with no network for dpkg-buildpackage.
 * Nothing else: no server, no log streaming, no artifacts.
 */
export async function rawBinaryBuild(options: {
  readonly imageRoot: string;
  readonly aptArchives: string;
  /** A directory holding the .dsc and its files. */
  readonly sourceDir: string;
  readonly dscName: string;
  readonly work: string;
  readonly signal: AbortSignal;
  /** A directory to copy the built .debs into (made if missing). */
  readonly keep?: string;
}): Promise<RawTimes> {
  const work = await mkdtemp(join(options.work, 'raw-'));
  try {
    const buildDir = join(work, 'build');
    await mkdir(buildDir, { recursive: true });
    await cp(options.sourceDir, join(buildDir, 'source'), { recursive: true });
    let last = performance.now();
    const started = last;
    const lap = () => {
      const now = performance.now();
      const seconds = (now - last) / 1000;
      last = now;
      return seconds;
    };
    const sandbox = await createSandbox({
      imageRoot: options.imageRoot,
      scratch: join(work, 'sandbox'),
      buildDir,
      aptArchives: options.aptArchives,
    });
    const sandboxSeconds = lap();
    let output = '';
    const run = async (argv: string[], how: Pick<SandboxRunOptions, 'network' | 'asRoot'>) => {
      const result = await sandbox.run(argv, {
        ...how,
        ...(how.asRoot ? {} : { cwd: '/build/pkg' }),
        timeLimitMs: 3600_000,
        signal: options.signal,
        onOutput: (text) => {
          output = (output + text).slice(-4000);
        },
      });
      if (result.code !== 0) {
        throw new Error(`${argv.join(' ')} failed:\n${output}`);
      }
      return lap();
    };
    try {
      const unpack = await run(
        ['dpkg-source', '--no-check', '-x', `/build/source/${options.dscName}`, '/build/pkg'],
        { network: false, asRoot: true },
      );
      await run([...quietDocsCommand], { network: false, asRoot: true });
      const dependencies = await run(
        ['apt-get', 'build-dep', '-y', '--no-install-recommends', '--arch-only', '/build/pkg'],
        { network: true, asRoot: true },
      );
      const build = await run(['dpkg-buildpackage', '-us', '-uc', '-B'], {
        network: false,
        asRoot: false,
      });
      if (options.keep !== undefined) {
        await mkdir(options.keep, { recursive: true });
        for (const file of await readdir(buildDir)) {
          if (file.endsWith('.deb')) {
            await cp(join(buildDir, file), join(options.keep, file));
          }
        }
      }
      await sandbox.destroy();
      const cleanup = lap();
      return {
        sandbox: sandboxSeconds,
        unpack,
        dependencies,
        build,
        cleanup,
        total: (performance.now() - started) / 1000,
      };
    } finally {
      await sandbox.destroy();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
