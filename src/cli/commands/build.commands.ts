import type { Command } from 'commander';
import { ClientError } from '../../client/client.ts';
import type { Task } from '../../protocol/tasks.schema.ts';
import type { Run, WorkflowTemplate } from '../../protocol/workflows.schema.ts';
import { withContext, type Context } from '../context.ts';
import { followTask } from './task.commands.ts';
import { finishRunCommand } from './workflow.commands.ts';

interface DebianBuildOptions {
  ref: string;
  arch?: string;
  buildArch?: string;
  dist: string;
  workspace: string;
  subdir?: string;
  archAll?: boolean;
  profiles?: string;
  follow: boolean;
  repo?: string;
  suite?: string;
  template?: string;
}

const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

export function registerBuildCommands(program: Command): void {
  const build = program.command('build').description('build packages from source');
  build
    .command('debian')
    .description('build Debian source and binary packages from a git repository, and follow them')
    .argument('<git-url>', 'https://..., file://... or a path the workers can reach')
    .requiredOption('--ref <ref>', 'branch, tag or commit')
    .requiredOption('--workspace <name>', 'the workspace the tasks and artifacts go to')
    .option(
      '--arch <list>',
      "architectures to build for, comma-separated (default: amd64; with --repo: the suite's)",
    )
    .option(
      '--build-arch <arch>',
      'build on this architecture (others are cross-built); default: each natively',
    )
    .option('--dist <name>', 'distribution of the build environment', 'bookworm')
    .option('--subdir <path>', 'where the package is in the repository')
    .option('--arch-all', 'also build Architecture: all packages (on the first architecture)')
    .option('--profiles <list>', 'build profiles, comma-separated')
    .option('--no-follow', 'submit and return')
    .option(
      '--repo <name>',
      "add the packages to this repository of the workspace: starts a debian-pipeline run of the workspace's template for it",
    )
    .option('--suite <codename>', 'with --repo: the suite (when templates for several exist)')
    .option('--template <name>', 'with --repo: the debian-pipeline template to start')
    .action(
      withContext(async (context, url: string, options: DebianBuildOptions) => {
        if (options.repo !== undefined || options.template !== undefined) {
          await startPipelineRun(context, url, options);
          return;
        }
        const client = await context.client();
        const tasks = `/api/v1/workspaces/${encodeURIComponent(options.workspace)}/tasks`;
        const archs = list(options.arch ?? 'amd64');
        if (archs.length === 0) {
          throw new ClientError('--arch names no architecture', 'usage');
        }
        const source = await client.json<Task>('POST', tasks, {
          type: 'debian:source',
          input: {
            url,
            ref: options.ref,
            ...(options.subdir === undefined ? {} : { subdir: options.subdir }),
          },
        });
        const binaries: Task[] = [];
        for (const [index, arch] of archs.entries()) {
          binaries.push(
            await client.json<Task>('POST', tasks, {
              type: 'debian:binary',
              input: {
                distribution: options.dist,
                build_architecture: options.buildArch ?? arch,
                host_architecture: arch,
                arch_all: options.archAll === true && index === 0,
                ...(options.profiles === undefined ? {} : { profiles: list(options.profiles) }),
              },
              depends_on: [source.id],
              bindings: [{ field: 'source_artifact', task: source.id, output: 'artifact' }],
            }),
          );
        }
        const submitted = { source: source.id, binaries: binaries.map((t) => t.id) };
        if (!options.follow) {
          context.output.print(
            submitted,
            (s) => `Submitted: source task ${s.source}, binary tasks ${s.binaries.join(', ')}`,
          );
          return;
        }
        context.output.note(
          `Source task ${source.id}; binary tasks ${binaries.map((t, i) => `${t.id} (${archs[i] ?? ''})`).join(', ')}`,
        );
        const ended: Task[] = [];
        for (const task of [source, ...binaries]) {
          context.output.note(`--- task ${task.id} (${task.type}) ---`);
          const done = await followTask(client, task.id);
          ended.push(done);
          context.output.note(
            `--- task ${done.id}: ${done.state}${done.result === null ? '' : ` (${done.result})`}${done.message === null ? '' : `: ${done.message}`}`,
          );
        }
        const failed = ended.filter((t) => !(t.state === 'completed' && t.result === 'success'));
        context.output.print(
          {
            ...submitted,
            tasks: ended.map((t) => ({
              id: t.id,
              state: t.state,
              result: t.result,
              output: t.output,
            })),
          },
          () =>
            failed.length === 0
              ? 'All built.'
              : `Failed: ${failed.map((t) => `task ${t.id}`).join(', ')}`,
        );
        process.exitCode = failed.length === 0 ? 0 : 1;
      }),
    );
}

/**
 * `kiln build debian --repo R`: starts a run of the workspace's
 * debian-pipeline template that targets R (and the suite, if given), with the
 * git URL and ref (and architectures, when --arch is given) as its run-time
 * parameters.
 */
async function startPipelineRun(
  context: Context,
  url: string,
  options: DebianBuildOptions,
): Promise<void> {
  const client = await context.client();
  const base = `/api/v1/workspaces/${encodeURIComponent(options.workspace)}`;
  const templates = (await client.json<WorkflowTemplate[]>('GET', `${base}/workflows`)).filter(
    (t) =>
      t.workflow === 'debian-pipeline' &&
      (options.template === undefined || t.name === options.template) &&
      (options.repo === undefined || t.parameters['repository'] === options.repo) &&
      (options.suite === undefined || t.parameters['suite'] === options.suite),
  );
  const [template, ...others] = templates;
  if (template === undefined || others.length > 0) {
    const what = `a debian-pipeline template${options.repo === undefined ? '' : ` for repository ${options.repo}`}${options.suite === undefined ? '' : ` suite ${options.suite}`}`;
    throw new ClientError(
      template === undefined
        ? `${options.workspace} has no ${what}: an owner registers one with \`kiln workflow register ${options.workspace} NAME --workflow debian-pipeline --param repository=REPO --param suite=SUITE\``
        : `${options.workspace} has several of ${what} (${templates.map((t) => t.name).join(', ')}): choose one with --template or --suite`,
      'usage',
    );
  }
  const given: Record<string, unknown> = {
    url,
    ref: options.ref,
    ...(options.subdir === undefined ? {} : { subdir: options.subdir }),
    ...(options.arch === undefined ? {} : { architectures: list(options.arch) }),
  };
  const parameters = Object.fromEntries(
    Object.entries(given).filter(([key]) => !(key in template.parameters)),
  );
  const run = await client.json<Run>('POST', `${base}/runs`, {
    template: template.name,
    parameters,
    trigger: { kind: 'cli' },
  });
  await finishRunCommand(context, run, options.follow);
}
