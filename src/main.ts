/**
 * The `kiln` command: `serve` and `up` start the server (and `up` a local
 * worker); every other command is the CLI. Each room is loaded only when used,
 * so the CLI never loads the server's code.
 */
import { useCompileCache } from './compile-cache.ts';

// Before the modules below are loaded.
useCompileCache();

const [command, ...rest] = process.argv.slice(2);

/** `kiln worker list|show|...` manage workers (CLI); `kiln worker [--flags]` is one. */
const workerCommands = new Set(['list', 'enable', 'disable', 'remove', 'token', 'help']);
const runsWorker = command === 'worker' && !workerCommands.has(rest[0] ?? '');

switch (runsWorker ? 'run-worker' : command) {
  case 'serve': {
    const { main } = await import('./server/main.ts');
    await main(rest);
    break;
  }
  case 'run-worker': {
    const { main } = await import('./worker/main.ts');
    await main(rest);
    break;
  }
  case 'up': {
    const { main } = await import('./up.ts');
    await main(rest);
    break;
  }
  default: {
    // A reader that stopped early (`kiln --help | head -1`) ends the command
    // quietly, as SIGPIPE ends other tools (exit status 128 + 13), rather
    // than with a stack trace: Node ignores SIGPIPE and reports EPIPE.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') {
        throw error;
      }
      process.exit(141);
    });
    const { main } = await import('./cli/main.ts');
    await main(process.argv);
  }
}
