import type { Command } from 'commander';
import { ClientError, type Client } from '../../client/client.ts';
import type { Task } from '../../protocol/tasks.schema.ts';
import { withContext } from '../context.ts';
import type { Output } from '../output.ts';
import { followTask } from './task.commands.ts';

/**
 * The `kiln repo` commands that run one repository operation (a server-side
 * task) and wait for it, from one table, as repository.routes.ts serves them.
 */

/** The API path of a repository. */
export const repositoryPath = (workspace: string, repository: string) =>
  `/api/v1/workspaces/${encodeURIComponent(workspace)}/repositories/${encodeURIComponent(repository)}`;

/**
 * Submits a repository operation (a server-side task) and waits for it,
 * printing its log (to stderr with `--json`, which prints the task on stdout).
 */
export async function runOperation(
  client: Client,
  output: Output,
  workspace: string,
  repository: string,
  operation: string,
  body: unknown,
): Promise<Task> {
  const task = await client.json<Task>(
    'POST',
    `${repositoryPath(workspace, repository)}/${operation}`,
    body,
  );
  const ended = await followTask(client, task.id, output.json ? process.stderr : process.stdout);
  if (!(ended.state === 'completed' && ended.result === 'success')) {
    throw new ClientError(`${operation} failed: ${ended.message ?? ended.state}`, 'conflict');
  }
  return ended;
}

/** A command that runs one repository operation: `kiln repo <command> <workspace> <name> [args] [options]`. */
interface OperationSpec {
  readonly command: string;
  /** The operation's path under the repository in the API. */
  readonly operation: string;
  readonly description: string;
  /** Arguments after `<workspace> <name>`, as commander writes them, with their help. */
  readonly args?: readonly (readonly [string, string?])[];
  /** `[flags, help]`; `required` options are commander's required options. */
  readonly options?: readonly (readonly [string, string?])[];
  readonly required?: readonly (readonly [string, string?])[];
  /** The request body from the arguments (in order) and the options. */
  body(args: readonly string[], options: Readonly<Record<string, string | undefined>>): unknown;
  /** What the command prints when the operation succeeded. */
  done(task: Task, args: readonly string[]): string;
}

const operations: readonly OperationSpec[] = [
  {
    command: 'remove',
    operation: 'remove',
    description:
      'remove a source package with its binaries (or one binary with --arch), and publish',
    args: [['<package>']],
    required: [['--suite <codename>']],
    options: [['--arch <arch>', "only this architecture's binary"]],
    body: ([pkg], o) => ({
      suite: o['suite'],
      package: pkg,
      ...(o['arch'] === undefined ? {} : { architecture: o['arch'] }),
    }),
    done: () => 'Removed and published',
  },
  {
    command: 'copy',
    operation: 'copy',
    description: 'copy packages from one suite to another, and publish',
    args: [['[packages...]', 'source packages (default: all)']],
    required: [['--from <codename>'], ['--to <codename>']],
    body: ([...packages], o) => ({
      from: o['from'],
      to: o['to'],
      ...(packages.length === 0 ? {} : { packages }),
    }),
    done: () => 'Copied and published',
  },
  {
    command: 'snapshot',
    operation: 'snapshot',
    description: 'snapshot a suite as a new suite',
    args: [['<snapshot>', "the new suite's codename"]],
    required: [['--suite <codename>']],
    body: ([snapshot], o) => ({ suite: o['suite'], name: snapshot }),
    done: (_task, [snapshot]) => `Suite ${snapshot ?? ''} published`,
  },
  {
    command: 'add-arch',
    operation: 'add-architecture',
    description: 'add an architecture to a suite',
    args: [['<arch>']],
    required: [['--suite <codename>']],
    body: ([arch], o) => ({ suite: o['suite'], architecture: arch }),
    done: (_task, [arch]) => `${arch ?? ''} added and published`,
  },
  {
    command: 'publish',
    operation: 'publish',
    description: 'publish again (e.g. to renew Valid-Until)',
    body: () => ({}),
    done: (task) => `Publication ${publicationOf(task)}`,
  },
  {
    command: 'rollback',
    operation: 'rollback',
    description:
      "serve an earlier publication's indices again, signed afresh (the next change publishes the contents)",
    args: [['<publication>']],
    body: ([publication]) => ({ publication: Number(publication) }),
    done: (task, [publication]) =>
      `Publication ${publicationOf(task)} serves what publication ${publication ?? ''} served`,
  },
];

/** Adds the operation commands to `kiln repo`. */
export function registerOperationCommands(repo: Command): void {
  for (const spec of operations) {
    registerOperation(repo, spec);
  }
}

function registerOperation(repo: Command, spec: OperationSpec): void {
  const command = repo
    .command(spec.command)
    .description(spec.description)
    .argument('<workspace>')
    .argument('<name>');
  for (const [name, help] of spec.args ?? []) {
    command.argument(name, help);
  }
  for (const [flags, help] of spec.required ?? []) {
    command.requiredOption(flags, help);
  }
  for (const [flags, help] of spec.options ?? []) {
    command.option(flags, help);
  }
  command.action(
    withContext(async (context, workspace: string, name: string, ...rest: unknown[]) => {
      // Commander passes the declared arguments (a variadic one as an array), then the options.
      const options = rest.at(-1) as Record<string, string | undefined>;
      const args = rest
        .slice(0, -1)
        .flatMap((a) => (Array.isArray(a) ? (a as string[]) : [a as string]));
      const task = await runOperation(
        await context.client(),
        context.output,
        workspace,
        name,
        spec.operation,
        spec.body(args, options),
      );
      context.output.print(task, (t) => spec.done(t, args));
    }),
  );
}

/** The publication number a finished publish task reports. */
export function publicationOf(task: { output?: Record<string, unknown> | null }): string {
  const publication = task.output?.['publication'];
  return typeof publication === 'number' ? String(publication) : '?';
}
