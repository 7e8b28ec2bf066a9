import type { ProcessResult } from '../process-group.ts';
import { runInProcessGroup } from '../process-group.ts';
import { createSandbox, type SandboxRunOptions } from './sandbox.ts';

/**
 * Where a build's commands run: in a sandbox (`unshare` executor: an overlay of
 * a base image, entered with bubblewrap) or directly on the worker (`host`
 * executor, for trusted set-ups: no isolation, dependencies must be installed).
 * Paths are as the commands see them: the build directory is `root`.
 */
export interface BuildEnvironment {
  readonly kind: 'unshare' | 'host';
  /** The build directory as commands see it. */
  readonly root: string;
  run(argv: readonly string[], options: SandboxRunOptions): Promise<ProcessResult>;
  destroy(): Promise<void>;
}

export async function createUnshareEnvironment(options: {
  readonly imageRoot: string;
  readonly scratch: string;
  readonly buildDir: string;
  readonly aptArchives: string;
}): Promise<BuildEnvironment> {
  const sandbox = await createSandbox(options);
  return { kind: 'unshare', root: '/build', run: sandbox.run, destroy: sandbox.destroy };
}

export function createHostEnvironment(buildDir: string): BuildEnvironment {
  return {
    kind: 'host',
    root: buildDir,
    run(argv, options) {
      return runInProcessGroup(argv, {
        cwd: options.cwd ?? buildDir,
        env: {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          HOME: buildDir,
          LANG: 'C.UTF-8',
          LC_ALL: 'C.UTF-8',
          ...options.env,
        },
        timeLimitMs: options.timeLimitMs,
        signal: options.signal,
        onOutput: options.onOutput,
      });
    },
    async destroy() {},
  };
}
