import { spawn } from 'node:child_process';
import { once } from 'node:events';

/** An exclusive lock, held until released. */
export interface FileLock {
  release(): Promise<void>;
}

/**
 * Takes an exclusive flock(2) on `path` (created if missing), waiting while
 * another process holds it. The lock is held by a flock(1) child, which lets
 * go when released or when this process dies (its stdin closes), so a crash
 * never leaves it taken. Rejects with the signal's reason if `signal` aborts
 * first. The same lock file serves processes on one machine; flock(1) comes
 * with util-linux, like the unshare(1) the sandbox needs.
 */
export async function lockFile(path: string, signal: AbortSignal): Promise<FileLock> {
  signal.throwIfAborted();
  // flock runs the shell once it holds the lock; cat keeps it until stdin ends.
  const child = spawn('flock', ['--exclusive', path, 'sh', '-c', 'echo locked && exec cat'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit').catch(() => undefined);
  const abort = () => child.kill('SIGTERM');
  signal.addEventListener('abort', abort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        if (chunk.includes('locked')) {
          resolve();
        }
      });
      child.once('error', reject);
      child.once('exit', (code, killedBy) => {
        reject(
          signal.aborted
            ? asError(signal.reason)
            : new Error(
                `flock ${path} ended (${killedBy ?? `exit status ${code ?? '?'}`}): ${stderr.trim()}`,
              ),
        );
      });
    });
  } catch (error) {
    child.kill('SIGTERM');
    await exited;
    throw error;
  } finally {
    signal.removeEventListener('abort', abort);
  }
  let released: Promise<void> | undefined;
  return {
    release: () =>
      (released ??= (async () => {
        child.stdin.end();
        await exited;
      })()),
  };
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}
