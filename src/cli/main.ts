import { Command, CommanderError } from 'commander';
import { ClientError } from '../client/client.ts';
import { registerArtifactCommands } from './commands/artifact.commands.ts';
import { registerAuthCommands } from './commands/auth.commands.ts';
import { registerBuildCommands } from './commands/build.commands.ts';
import { registerRepoCommands } from './commands/repo.commands.ts';
import { registerTaskCommands } from './commands/task.commands.ts';
import { registerTriggerCommands } from './commands/trigger.commands.ts';
import { registerWebhookCommands } from './commands/webhook.commands.ts';
import { registerWorkerCommands } from './commands/worker.commands.ts';
import { registerWorkflowCommands } from './commands/workflow.commands.ts';
import { registerWorkspaceCommands } from './commands/workspace.commands.ts';

/** Builds the `kiln` command line (all commands but `serve` and `up`). */
export function createProgram(): Command {
  const program = new Command('kiln')
    .description('kiln: a build farm for software distributions')
    .option('--server <url>', 'the kiln server (default: KILN_SERVER, or the one you logged in to)')
    .option('--token <token>', 'the API token (default: KILN_TOKEN, or your login)')
    .option('--json', 'print JSON, for scripts')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText(
      'after',
      `
Server commands:
  serve [options]    run the server (see \`kiln serve --help\`)
  up [options]       run the whole farm on this machine: server, embedded database, local worker
  worker [options]   run a worker (see \`kiln worker --help\`)`,
    );
  registerAuthCommands(program);
  registerWorkspaceCommands(program);
  registerArtifactCommands(program);
  registerTaskCommands(program);
  registerWorkerCommands(program);
  registerBuildCommands(program);
  registerRepoCommands(program);
  registerTriggerCommands(program);
  registerWebhookCommands(program);
  registerWorkflowCommands(program);
  return program;
}

/** Runs the CLI; errors become one line on stderr and a non-zero exit code. */
export async function main(argv: readonly string[]): Promise<void> {
  const program = createProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    process.exitCode = reportError(error);
  }
}

function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander has printed the message (or the help) already.
    return error.exitCode === 0 ? 0 : 2;
  }
  if (error instanceof ClientError) {
    const code = error.code === undefined || error.code === 'usage' ? '' : ` (${error.code})`;
    process.stderr.write(`kiln: ${error.message}${code}\n`);
    return error.code === 'usage' ? 2 : 1;
  }
  process.stderr.write(`kiln: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
}
