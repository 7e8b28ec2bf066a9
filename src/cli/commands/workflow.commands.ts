import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ClientError } from '../../client/client.ts';
import type { Run, RunSummary, WorkflowTemplate } from '../../protocol/workflows.schema.ts';
import { withContext, type Context } from '../context.ts';
import { table } from '../output.ts';
import { describeRun, followRun, parseParameters, runLine } from './run-follow.ts';

const collect = (value: string, previous: string[]) => [...previous, value];
const ws = (name: string) => `/api/v1/workspaces/${encodeURIComponent(name)}`;

function parseId(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new ClientError(`${JSON.stringify(text)} is not a run id`, 'usage');
  }
  return Number(text);
}

async function readParameters(options: { param: string[]; paramsFile?: string }) {
  let parameters: Record<string, unknown> = {};
  if (options.paramsFile !== undefined) {
    const text = await readFile(options.paramsFile, 'utf8').catch((error: unknown) => {
      throw new ClientError(
        `cannot read ${options.paramsFile}: ${(error as Error).message}`,
        'usage',
      );
    });
    try {
      parameters = JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new ClientError(`${options.paramsFile}: ${(error as Error).message}`, 'usage');
    }
  }
  try {
    return { ...parameters, ...parseParameters(options.param) };
  } catch (error) {
    throw new ClientError((error as Error).message, 'usage');
  }
}

/**
 * Prints a run, following it first unless told not to; the exit code says
 * whether it succeeded (0), or ended otherwise (1).
 */
export async function finishRunCommand(context: Context, run: Run, follow: boolean): Promise<void> {
  const client = await context.client();
  if (!follow) {
    context.output.print(run, (r) => `Started ${runLine(r)}`);
    return;
  }
  context.output.note(`Started ${runLine(run)}`);
  const ended = await followRun(client, context.output, run.id);
  context.output.print(ended, describeRun);
  process.exitCode = ended.result === 'success' || ended.result === 'neutral' ? 0 : 1;
}

export function registerWorkflowCommands(program: Command): void {
  const workflow = program.command('workflow').description('workflow templates of a workspace');
  workflow
    .command('register')
    .description('register a template: a built-in workflow with fixed parameters (owners)')
    .argument('<workspace>')
    .argument('<name>', 'the template name runs are started by')
    .requiredOption(
      '--workflow <name>',
      'debian-pipeline, binnmu, rebuild-reverse-deps or pipeline',
    )
    .option(
      '--param <key=value>',
      'a fixed parameter (JSON values allowed); repeatable',
      collect,
      [],
    )
    .option('--params-file <file>', 'fixed parameters as a JSON object')
    .option('--max-retries <n>', 'retries of a task that errored (the farm’s fault)')
    .action(
      withContext(
        async (
          context,
          workspace: string,
          name: string,
          options: { workflow: string; param: string[]; paramsFile?: string; maxRetries?: string },
        ) => {
          const client = await context.client();
          const template = await client.json<WorkflowTemplate>(
            'POST',
            `${ws(workspace)}/workflows`,
            {
              name,
              workflow: options.workflow,
              parameters: await readParameters(options),
              ...(options.maxRetries === undefined
                ? {}
                : { max_retries: Number(options.maxRetries) }),
            },
          );
          context.output.print(
            template,
            (t) =>
              `Registered ${t.name} (${t.workflow}) in ${t.workspace}: ${JSON.stringify(t.parameters)}`,
          );
        },
      ),
    );
  workflow
    .command('list')
    .description("a workspace's templates")
    .argument('<workspace>')
    .action(
      withContext(async (context, workspace: string) => {
        const client = await context.client();
        const templates = await client.json<WorkflowTemplate[]>(
          'GET',
          `${ws(workspace)}/workflows`,
        );
        context.output.print(templates, (items) =>
          table(
            ['NAME', 'WORKFLOW', 'PARAMETERS', 'RETRIES'],
            items.map((t) => [t.name, t.workflow, JSON.stringify(t.parameters), t.max_retries]),
          ),
        );
      }),
    );
  workflow
    .command('remove')
    .description('remove a template (owners); its runs stay')
    .argument('<workspace>')
    .argument('<name>')
    .action(
      withContext(async (context, workspace: string, name: string) => {
        const client = await context.client();
        await client.json('DELETE', `${ws(workspace)}/workflows/${encodeURIComponent(name)}`);
        context.output.print({ removed: name }, () => `Removed ${name}`);
      }),
    );

  const run = program.command('run').description('workflow runs');
  run
    .command('start')
    .description('start a run of a registered template, and follow it')
    .argument('<workspace>')
    .argument('<template>')
    .option(
      '--param <key=value>',
      'a run-time parameter (JSON values allowed); repeatable',
      collect,
      [],
    )
    .option('--params-file <file>', 'run-time parameters as a JSON object')
    .option('--no-follow', 'start and return')
    .action(
      withContext(
        async (
          context,
          workspace: string,
          template: string,
          options: { param: string[]; paramsFile?: string; follow: boolean },
        ) => {
          const client = await context.client();
          const started = await client.json<Run>('POST', `${ws(workspace)}/runs`, {
            template,
            parameters: await readParameters(options),
            trigger: { kind: 'cli' },
          });
          await finishRunCommand(context, started, options.follow);
        },
      ),
    );
  run
    .command('list')
    .description("a workspace's runs, newest first")
    .argument('<workspace>')
    .option('--status <status>', 'running, aborted or completed')
    .option('--template <name>')
    .option('--limit <n>', 'at most this many', '50')
    .action(
      withContext(
        async (
          context,
          workspace: string,
          options: { status?: string; template?: string; limit: string },
        ) => {
          const client = await context.client();
          const query = new URLSearchParams({ limit: options.limit });
          if (options.status !== undefined) {
            query.set('status', options.status);
          }
          if (options.template !== undefined) {
            query.set('template', options.template);
          }
          const page = await client.json<{ items: RunSummary[]; total: number }>(
            'GET',
            `${ws(workspace)}/runs?${query.toString()}`,
          );
          context.output.print(page, (p) =>
            table(
              ['ID', 'TEMPLATE', 'STATUS', 'RESULT', 'STARTED', 'MESSAGE'],
              p.items.map((r) => [r.id, r.template, r.status, r.result, r.created_at, r.message]),
            ),
          );
        },
      ),
    );
  run
    .command('show')
    .description('a run with its tasks')
    .argument('<id>')
    .option('--follow', 'follow it until it ends')
    .action(
      withContext(async (context, id: string, options: { follow?: boolean }) => {
        const client = await context.client();
        const shown = await client.json<Run>('GET', `/api/v1/runs/${parseId(id)}`);
        if (options.follow === true && shown.status === 'running') {
          await finishRunCommand(context, shown, true);
          return;
        }
        context.output.print(shown, describeRun);
      }),
    );
  for (const [verb, summary] of [
    ['cancel', 'cancel a run: it is aborted, its unfinished tasks cancelled'],
    ['retry', 'retry the failed tasks of a run that ended without success, and follow it'],
  ] as const) {
    run
      .command(verb)
      .description(summary)
      .argument('<id>')
      .option('--no-follow', 'return at once')
      .action(
        withContext(async (context, id: string, options: { follow: boolean }) => {
          const client = await context.client();
          const changed = await client.json<Run>('POST', `/api/v1/runs/${parseId(id)}/${verb}`);
          if (verb === 'retry') {
            await finishRunCommand(context, changed, options.follow);
            return;
          }
          context.output.print(changed, runLine);
        }),
      );
  }
}
