import { spawn } from 'node:child_process';

export interface ProcessResult {
  /** Exit status, or null when killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Why kiln stopped it, if it did. */
  readonly stoppedBecause: 'timeout' | 'abort' | undefined;
}

export interface RunOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly timeLimitMs: number;
  readonly signal: AbortSignal;
  readonly onOutput: (text: string) => void;
  /** Seconds between SIGTERM and SIGKILL when stopping. */
  readonly graceMs?: number;
}

/**
 * Runs a command in a process group of its own, so that stopping it (time limit
 * or abort) kills the whole tree it started: SIGTERM to the group, then SIGKILL
 * after a grace period.
 */
export function runInProcessGroup(
  argv: readonly string[],
  options: RunOptions,
): Promise<ProcessResult> {
  const [command, ...args] = argv;
  if (command === undefined) {
    return Promise.reject(new Error('empty command'));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stoppedBecause: ProcessResult['stoppedBecause'];
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (why: 'timeout' | 'abort') => {
      if (stoppedBecause !== undefined || child.pid === undefined) {
        return;
      }
      stoppedBecause = why;
      signalGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => {
        if (child.pid !== undefined) {
          signalGroup(child.pid, 'SIGKILL');
        }
      }, options.graceMs ?? 5000);
    };
    const timer = setTimeout(() => {
      stop('timeout');
    }, options.timeLimitMs);
    const onAbort = () => {
      stop('abort');
    };
    options.signal.addEventListener('abort', onAbort, { once: true });
    if (options.signal.aborted) {
      onAbort();
    }
    child.stdout.setEncoding('utf8').on('data', options.onOutput);
    child.stderr.setEncoding('utf8').on('data', options.onOutput);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      options.signal.removeEventListener('abort', onAbort);
      // Whatever the group's leader did, leave nothing of the group behind.
      if (child.pid !== undefined) {
        signalGroup(child.pid, 'SIGKILL');
      }
      resolve({ code, signal, stoppedBecause });
    });
  });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}
