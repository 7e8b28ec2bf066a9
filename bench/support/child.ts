import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A child process whose output is kept (the last lines) for error messages. */
export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Settles when the process has exited, with its exit code or signal. */
  readonly exited: Promise<string>;
  /** The last lines it wrote on stdout and stderr. */
  outputTail(): string;
  /** Asks it to stop with `signal`, then kills it if it is still there after `graceMs`. */
  stop(signal: NodeJS.Signals, graceMs: number): Promise<void>;
}

const tailChars = 4000;

export function spawnChild(command: string, args: readonly string[], options: SpawnOptions): Child {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (data: Buffer) => {
    tail = (tail + data.toString('utf8')).slice(-tailChars);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      resolve(signal === null ? `exit code ${code ?? '?'}` : `signal ${signal}`);
    });
  });
  // A failure to start is reported through `exited`, never as an unhandled rejection.
  exited.catch(() => undefined);
  if (child.pid === undefined) {
    throw new Error(`${command} could not be started`);
  }
  const pid = child.pid;
  return {
    process: child,
    pid,
    exited,
    outputTail: () => tail,
    async stop(signal, graceMs) {
      if (child.exitCode !== null || child.signalCode !== null) {
        return;
      }
      child.kill(signal);
      const stopped = await Promise.race([
        exited.then(() => true),
        sleep(graceMs).then(() => false),
      ]);
      if (!stopped) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    },
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (typeof address !== 'object' || address === null) {
    throw new Error('no port was assigned');
  }
  return address.port;
}
