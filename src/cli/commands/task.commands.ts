import type { Command } from 'commander';
import { ClientError, type Client } from '../../client/client.ts';
import { readServerSentEvents } from '../../client/sse.ts';
import type { Task, TaskSummary, WhyResponse } from '../../protocol/tasks.schema.ts';
import { withContext } from '../context.ts';
import { parseDuration, table } from '../output.ts';

const collect = (value: string, all: string[] | undefined) => [...(all ?? []), value];

interface RequirementOptions {
  arch?: string;
  hostArch?: string;
  executor?: string;
  tag?: string[];
  memory?: string;
  disk?: string;
}

function addRequirementOptions(command: Command): Command {
  return command
    .option('--arch <arch>', 'run on a worker of this architecture')
    .option('--host-arch <arch>', 'build for this architecture (cross when it differs from --arch)')
    .option('--executor <name>', 'run with this executor (host, unshare, ...)')
    .option('--tag <tag>', 'require a worker tag (repeatable)', collect)
    .option('--memory <bytes>', 'minimum worker memory, e.g. 4G')
    .option('--disk <bytes>', 'minimum free disk, e.g. 20G')
    .option('--depends-on <id>', 'wait for this task to succeed (repeatable)', collect)
    .option('--priority <n>', 'score adjustment (admins may raise it)')
    .option('--time-limit <duration>', 'stop the task after this long, e.g. 30m')
    .option('-f, --follow', 'follow the log until the task ends');
}

function parseBytes(text: string): number {
  const match = /^(\d+)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    (match?.[2] ?? '').toLowerCase()
  ];
  if (match?.[1] === undefined || unit === undefined) {
    throw new ClientError(`${JSON.stringify(text)} is not a size such as 512M or 4G`, 'usage');
  }
  return Number(match[1]) * unit;
}

function requirementsOf(options: RequirementOptions) {
  return {
    ...(options.arch === undefined ? {} : { architecture: options.arch }),
    ...(options.hostArch === undefined ? {} : { host_architecture: options.hostArch }),
    ...(options.executor === undefined ? {} : { executor: options.executor }),
    ...(options.tag === undefined ? {} : { tags: options.tag }),
    ...(options.memory === undefined ? {} : { min_memory: parseBytes(options.memory) }),
    ...(options.disk === undefined ? {} : { min_disk: parseBytes(options.disk) }),
  };
}

type SubmitOptions = RequirementOptions & {
  dependsOn?: string[];
  priority?: string;
  timeLimit?: string;
  follow?: boolean;
};

function submitBody(type: string, input: Record<string, unknown>, options: SubmitOptions) {
  return {
    type,
    input,
    requirements: requirementsOf(options),
    ...(options.dependsOn === undefined ? {} : { depends_on: options.dependsOn.map(Number) }),
    ...(options.priority === undefined ? {} : { priority: Number(options.priority) }),
    ...(options.timeLimit === undefined ? {} : { time_limit: parseDuration(options.timeLimit) }),
  };
}

/**
 * Prints a task's log to stdout as it grows (server-sent events), until the
 * task ends; returns the task as it ended.
 */
export async function followTask(
  client: Client,
  id: number,
  log: NodeJS.WritableStream = process.stdout,
): Promise<Task> {
  const stream = await client.download(`/api/v1/tasks/${id}/log`, { accept: 'text/event-stream' });
  for await (const event of readServerSentEvents(stream)) {
    if (event.event === 'log') {
      log.write(JSON.parse(event.data) as string);
    } else if (event.event === 'end') {
      break;
    }
  }
  return client.json<Task>('GET', `/api/v1/tasks/${id}`);
}

function describeTask(t: Task): string {
  const lines = [
    `id:           ${t.id}`,
    `workspace:    ${t.workspace}`,
    `type:         ${t.type} (runs on ${t.runs_on})`,
    `state:        ${t.state}${t.result === null ? '' : ` (${t.result}${t.reason === null ? '' : `: ${t.reason}`})`}`,
    ...(t.message === null ? [] : [`message:      ${t.message}`]),
    `requirements: ${Object.keys(t.requirements).length === 0 ? '-' : JSON.stringify(t.requirements)}`,
    `score:        ${t.score} (priority ${t.priority})`,
    `depends on:   ${t.depends_on.length === 0 ? '-' : t.depends_on.join(', ')}`,
    `created:      ${t.created_at} by ${t.created_by ?? '-'}`,
    `started:      ${t.started_at ?? '-'}${t.worker === null ? '' : ` on ${t.worker}`}`,
    `completed:    ${t.completed_at ?? '-'}`,
    `inputs:       ${t.inputs.length === 0 ? '-' : t.inputs.join(', ')}`,
    `outputs:      ${t.outputs.length === 0 ? '-' : t.outputs.join(', ')}`,
    `log:          ${t.log_artifact === null ? '-' : `artifact ${t.log_artifact}`}`,
    'attempts:',
  ];
  const attempts = table(
    ['  #', 'WORKER', 'STARTED', 'ENDED', 'OUTCOME'],
    t.attempts.map((a) => [`  ${a.attempt}`, a.worker, a.started_at, a.ended_at, a.outcome]),
  );
  return `${lines.join('\n')}\n${attempts}`;
}

function parseId(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new ClientError(`${JSON.stringify(text)} is not a task id`, 'usage');
  }
  return Number(text);
}

/** Exit status for a followed task: 0 on success, 1 otherwise. */
function exitFor(task: Task): number {
  return task.state === 'completed' && task.result === 'success' ? 0 : 1;
}

export function registerTaskCommands(program: Command): void {
  const task = program.command('task').description('tasks: work for the farm');

  addRequirementOptions(
    task
      .command('submit')
      .description('submit a task of any registered type')
      .argument('<workspace>')
      .requiredOption('--type <type>', 'task type, e.g. noop or shell')
      .option('--input <json>', 'the input, a JSON object', '{}'),
  ).action(
    withContext(
      async (
        context,
        workspace: string,
        options: SubmitOptions & { type: string; input: string },
      ) => {
        let input: unknown;
        try {
          input = JSON.parse(options.input);
        } catch {
          throw new ClientError('--input is not JSON', 'usage');
        }
        const client = await context.client();
        const created = await client.json<Task>(
          'POST',
          `/api/v1/workspaces/${encodeURIComponent(workspace)}/tasks`,
          submitBody(options.type, input as Record<string, unknown>, options),
        );
        if (options.follow === true) {
          process.exitCode = exitFor(await followTask(client, created.id));
          return;
        }
        context.output.print(created, (t) => `Task ${t.id} submitted (${t.state})`);
      },
    ),
  );

  addRequirementOptions(
    task
      .command('run')
      .description('run a shell command on the farm and follow it: kiln task run WS -- CMD ARGS...')
      .argument('<workspace>')
      .argument('<command...>')
      .option(
        '--input-artifact <id>',
        'download this artifact into inputs/<id>/ (repeatable)',
        collect,
      )
      .option(
        '--output-type <type>',
        'save the files left in outputs/ as an artifact of this type',
      ),
  ).action(
    withContext(
      async (
        context,
        workspace: string,
        command: string[],
        options: SubmitOptions & { inputArtifact?: string[]; outputType?: string },
      ) => {
        const client = await context.client();
        const input = {
          command: command.length === 1 ? (command[0] ?? '') : command,
          ...(options.inputArtifact === undefined
            ? {}
            : { inputs: options.inputArtifact.map(Number) }),
          ...(options.outputType === undefined ? {} : { outputs: { type: options.outputType } }),
        };
        const created = await client.json<Task>(
          'POST',
          `/api/v1/workspaces/${encodeURIComponent(workspace)}/tasks`,
          submitBody('shell', input, options),
        );
        context.output.note(`Task ${created.id} submitted`);
        const ended = await followTask(client, created.id);
        context.output.note(
          `Task ${ended.id}: ${ended.state}${ended.result === null ? '' : ` (${ended.result})`}${ended.message === null ? '' : `: ${ended.message}`}`,
        );
        process.exitCode = exitFor(ended);
      },
    ),
  );

  task
    .command('list')
    .description("a workspace's tasks, newest first")
    .argument('<workspace>')
    .option('--state <state>', 'blocked, pending, running, completed or cancelled')
    .option('--type <type>', 'only this type')
    .option('--limit <n>', 'how many', '100')
    .action(
      withContext(
        async (
          context,
          workspace: string,
          options: { state?: string; type?: string; limit: string },
        ) => {
          const query = new URLSearchParams({
            limit: options.limit,
            ...(options.state === undefined ? {} : { state: options.state }),
            ...(options.type === undefined ? {} : { type: options.type }),
          });
          const page = await (
            await context.client()
          ).json<{ items: TaskSummary[]; total: number }>(
            'GET',
            `/api/v1/workspaces/${encodeURIComponent(workspace)}/tasks?${query.toString()}`,
          );
          context.output.print(page, (p) =>
            table(
              ['ID', 'TYPE', 'STATE', 'RESULT', 'WORKER', 'CREATED'],
              p.items.map((t) => [t.id, t.type, t.state, t.result, t.worker, t.created_at]),
            ),
          );
        },
      ),
    );

  task
    .command('show')
    .description('a task: state, requirements, attempts, artifacts')
    .argument('<id>')
    .action(
      withContext(async (context, id: string) => {
        const shown = await (
          await context.client()
        ).json<Task>('GET', `/api/v1/tasks/${parseId(id)}`);
        context.output.print(shown, describeTask);
      }),
    );

  task
    .command('why')
    .description('why a task is not running')
    .argument('<id>')
    .action(
      withContext(async (context, id: string) => {
        const why = await (
          await context.client()
        ).json<WhyResponse>('GET', `/api/v1/tasks/${parseId(id)}/why`);
        context.output.print(why, (w) =>
          [
            `task ${w.task} is ${w.state}:`,
            ...w.reasons.map((r) => `  ${r.message} [${r.code}]`),
          ].join('\n'),
        );
      }),
    );

  task
    .command('logs')
    .description("print a task's log (-f: follow it live)")
    .argument('<id>')
    .option('-f, --follow', 'keep printing until the task ends')
    .action(
      withContext(async (context, id: string, options: { follow?: boolean }) => {
        const client = await context.client();
        if (options.follow === true) {
          await followTask(client, parseId(id));
          return;
        }
        const stream = await client.download(`/api/v1/tasks/${parseId(id)}/log`);
        for await (const chunk of stream) {
          process.stdout.write(chunk as Buffer);
        }
      }),
    );

  for (const [name, description] of [
    ['cancel', 'cancel a task (a running one is stopped on its worker)'],
    ['retry', 'run a task again'],
  ] as const) {
    task
      .command(name)
      .description(description)
      .argument('<id>')
      .action(
        withContext(async (context, id: string) => {
          const changed = await (
            await context.client()
          ).json<Task>('POST', `/api/v1/tasks/${parseId(id)}/${name}`);
          context.output.print(
            changed,
            (t) => `Task ${t.id}: ${t.state}${t.cancel_requested ? ' (stopping)' : ''}`,
          );
        }),
      );
  }

  task
    .command('priority')
    .description("set a task's priority (admin)")
    .argument('<id>')
    .argument('<priority>')
    .action(
      withContext(async (context, id: string, priority: string) => {
        const changed = await (
          await context.client()
        ).json<Task>('PATCH', `/api/v1/tasks/${parseId(id)}`, {
          priority: Number(priority),
        });
        context.output.print(
          changed,
          (t) => `Task ${t.id}: score ${t.score} (priority ${t.priority})`,
        );
      }),
    );
}
