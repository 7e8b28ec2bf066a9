import { readFileSync } from 'node:fs';
import { startAgent } from './agent.ts';
import { parseWorkerConfig, workerUsage, WorkerConfigError } from './config.ts';
import { hostname } from 'node:os';
import { defaultImageDir, imageCommand } from './image-command.ts';
import { createDebianBinaryRunner } from './runners/debian-binary.ts';
import { debianSourceRunner } from './runners/debian-source.ts';
import { noopRunner } from './runners/noop.ts';
import { shellRunner } from './runners/shell.ts';

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/**
 * `kiln worker`: the composition root of the worker. SIGTERM (or Ctrl-C) stops
 * it gracefully: the running task may finish, then is handed back; a second
 * signal hands it back at once.
 */
export async function main(args: readonly string[]): Promise<void> {
  if (args[0] === 'image') {
    process.exitCode = await imageCommand(args.slice(1), defaultImageDir(hostname()));
    return;
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(workerUsage);
    return;
  }
  let config;
  try {
    config = parseWorkerConfig(args, process.env);
  } catch (error) {
    if (error instanceof WorkerConfigError) {
      process.stderr.write(`kiln worker: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
  const say = (message: string) => {
    process.stderr.write(`${new Date().toISOString()} kiln worker ${config.name}: ${message}\n`);
  };
  const runners = [
    noopRunner,
    shellRunner,
    debianSourceRunner,
    createDebianBinaryRunner({
      imageDir: config.imageDir,
      mirror: config.mirror,
      minFreeDisk: 1024 ** 3,
    }),
  ];
  const agent = startAgent(config, runners, { version, say });
  let signals = 0;
  const onSignal = () => {
    signals += 1;
    agent.stop(signals > 1);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await agent.done;
    say('stopped');
  } catch (error) {
    say(`failed: ${(error as Error).message}`);
    process.exitCode = 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
