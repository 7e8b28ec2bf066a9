import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runInProcessGroup, type ProcessResult } from '../process-group.ts';
import { publishArchives, seedArchives } from './apt-archives.ts';

/**
 * A fresh build environment: an overlay of a base image (the image stays
 * untouched; every change lands in a per-build upper directory that is deleted
 * afterwards), entered with bubblewrap in new mount, PID, IPC and UTS
 * namespaces, with `/build` bound to a host directory. Network is off unless a
 * step asks for it (installing build dependencies); the build itself runs
 * without network, as an unprivileged user, as sbuild's unshare mode does.
 */
export interface Sandbox {
  readonly run: (argv: readonly string[], options: SandboxRunOptions) => Promise<ProcessResult>;
  readonly destroy: () => Promise<void>;
}

export interface SandboxRunOptions {
  readonly network: boolean;
  /** Run as root in the sandbox (installing packages) or as the build user. */
  readonly asRoot: boolean;
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly timeLimitMs: number;
  readonly signal: AbortSignal;
  readonly onOutput: (text: string) => void;
}

/** The build user's uid and gid inside the sandbox (and on the bound /build). */
export const buildUid = 1000;

export async function createSandbox(options: {
  readonly imageRoot: string;
  /** A directory for this build's overlay layers; removed by `destroy`. */
  readonly scratch: string;
  /** Bound at /build. */
  readonly buildDir: string;
  /**
   * The pool of downloaded packages builds share: copied (as hard links) to
   * this build's /var/cache/apt/archives, and given what it downloaded back.
   */
  readonly aptArchives?: string;
}): Promise<Sandbox> {
  const upper = join(options.scratch, 'upper');
  const work = join(options.scratch, 'work');
  const merged = join(options.scratch, 'merged');
  await Promise.all([upper, work, merged].map((d) => mkdir(d, { recursive: true })));
  // The overlay is thrown away after the build: dpkg need not fsync what it
  // unpacks (mmdebstrap does the same while it bootstraps).
  const dpkgConfig = join(options.scratch, 'dpkg-unsafe-io');
  await writeFile(dpkgConfig, 'force-unsafe-io\n');
  const archives = join(options.scratch, 'archives');
  if (options.aptArchives !== undefined) {
    await seedArchives(options.aptArchives, archives);
  }
  return {
    run(argv, run) {
      const bwrap = [
        'bwrap',
        '--bind',
        merged,
        '/',
        '--dev',
        '/dev',
        '--proc',
        '/proc',
        '--tmpfs',
        '/tmp',
        '--bind',
        options.buildDir,
        '/build',
        '--ro-bind',
        dpkgConfig,
        '/etc/dpkg/dpkg.cfg.d/kiln-unsafe-io',
        ...(options.aptArchives === undefined
          ? []
          : ['--bind', archives, '/var/cache/apt/archives']),
        ...(run.network
          ? ['--ro-bind', '/etc/resolv.conf', '/etc/resolv.conf']
          : ['--unshare-net']),
        '--unshare-pid',
        '--unshare-ipc',
        '--unshare-uts',
        '--hostname',
        'kiln-build',
        '--die-with-parent',
        '--new-session',
        ...(run.asRoot
          ? []
          : [
              '--unshare-user',
              '--uid',
              String(buildUid),
              '--gid',
              String(buildUid),
              '--cap-drop',
              'ALL',
            ]),
        '--chdir',
        run.cwd ?? '/build',
        '--clearenv',
        ...Object.entries({
          PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          HOME: run.asRoot ? '/root' : '/build',
          LANG: 'C.UTF-8',
          LC_ALL: 'C.UTF-8',
          DEBIAN_FRONTEND: 'noninteractive',
          ...run.env,
        }).flatMap(([k, v]) => ['--setenv', k, v]),
        '--',
        ...argv,
      ];
      // The overlay is mounted in a private mount namespace: it disappears with it.
      const script =
        'mount -t overlay kiln-build -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4" && shift 4 && exec "$@"';
      return runInProcessGroup(
        [
          'unshare',
          '--mount',
          '--propagation',
          'private',
          '--',
          'sh',
          '-c',
          script,
          'sandbox',
          options.imageRoot,
          upper,
          work,
          merged,
          ...bwrap,
        ],
        {
          cwd: options.buildDir,
          env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
          timeLimitMs: run.timeLimitMs,
          signal: run.signal,
          onOutput: run.onOutput,
        },
      );
    },
    async destroy() {
      try {
        if (options.aptArchives !== undefined) {
          await publishArchives(archives, options.aptArchives);
        }
      } finally {
        await rm(options.scratch, { recursive: true, force: true });
      }
    },
  };
}
