import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:fs';
import { access, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ToolUnavailableError } from './tool.ts';

export interface CommandOptions {
  readonly signal: AbortSignal;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** A file that receives the command's standard output, instead of keeping it. */
  readonly stdoutFile?: string;
  /**
   * Output that means failure even with exit code 0 (apt-ftparchive reports
   * errors as `E: ...` lines and still exits 0).
   */
  readonly failOn?: RegExp;
}

export interface CommandResult {
  /** The peak resident set size of the command or of the largest of its waited-for children, in bytes. */
  readonly peakRss: number;
  /** Its standard output, unless it went to `stdoutFile`. */
  readonly stdout: string;
}

const timeBinary = '/usr/bin/time';
const tailChars = 4000;

/**
 * Runs a command under GNU time for its peak RSS (getrusage's ru_maxrss,
 * which covers the children it waited for: gpg under reprepro, say). It runs
 * in a process group of its own, killed whole when `signal` aborts.
 */
export async function runMeasured(
  command: string,
  args: readonly string[],
  options: CommandOptions,
): Promise<CommandResult> {
  options.signal.throwIfAborted();
  const scratch = await mkdtemp(join(tmpdir(), 'kiln-bench-time-'));
  const rssFile = join(scratch, 'maxrss');
  const stdoutHandle =
    options.stdoutFile === undefined ? undefined : await open(options.stdoutFile, 'w');
  try {
    const child = spawn(timeBinary, ['-f', '%M', '-o', rssFile, command, ...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', stdoutHandle?.fd ?? 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let tail = '';
    child.stdout?.on('data', (data: Buffer) => {
      stdout += data.toString('utf8');
      tail = (tail + data.toString('utf8')).slice(-tailChars);
    });
    child.stderr?.on('data', (data: Buffer) => {
      tail = (tail + data.toString('utf8')).slice(-tailChars);
    });
    const killGroup = () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // The group is gone already.
        }
      }
    };
    options.signal.addEventListener('abort', killGroup, { once: true });
    try {
      const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
      options.signal.throwIfAborted();
      const described = `${command} ${args.slice(0, 4).join(' ')}${args.length > 4 ? ' ...' : ''}`;
      if (code !== 0) {
        throw new Error(`${described}: ${signal ?? `exit code ${code ?? '?'}`}\n${tail}`);
      }
      if (options.failOn?.test(tail) === true) {
        throw new Error(`${described} reported an error:\n${tail}`);
      }
    } finally {
      options.signal.removeEventListener('abort', killGroup);
    }
    const kilobytes = Number((await readFile(rssFile, 'utf8')).trim().split('\n').pop());
    return { peakRss: kilobytes * 1024, stdout };
  } finally {
    await stdoutHandle?.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Splits a list of file arguments into runs that stay well under ARG_MAX. */
export function inBatches(files: readonly string[], maxBytes = 256 * 1024): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const file of files) {
    const size = Buffer.byteLength(file) + 1;
    if (current.length > 0 && bytes + size > maxBytes) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(file);
    bytes += size;
  }
  if (current.length > 0) {
    batches.push(current);
  }
  return batches;
}

/** Throws ToolUnavailableError unless `command` is an executable on PATH. */
export async function requireCommand(command: string, debianPackage: string): Promise<void> {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (
      dir !== '' &&
      (await access(join(dir, command), constants.X_OK).then(
        () => true,
        () => false,
      ))
    ) {
      return;
    }
  }
  throw new ToolUnavailableError(
    `${command} is not installed (Debian package ${debianPackage}: scripts/setup-debian.sh bench)`,
  );
}
