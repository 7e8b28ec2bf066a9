import type { Command } from 'commander';
import type { CreatedToken } from '../../protocol/tokens.schema.ts';
import type { Worker } from '../../protocol/workers.schema.ts';
import { withContext } from '../context.ts';
import { parseDuration, table } from '../output.ts';
import { formatBytes } from '../progress.ts';

const path = (name: string) => `/api/v1/workers/${encodeURIComponent(name)}`;

export function registerWorkerCommands(program: Command): void {
  const worker = program
    .command('worker')
    .description("the farm's workers (to run one: kiln worker --server URL --token TOKEN)");

  worker
    .command('list')
    .description('workers: capabilities, load, last heartbeat, current task')
    .action(
      withContext(async (context) => {
        const { items } = await (
          await context.client()
        ).json<{ items: Worker[] }>('GET', '/api/v1/workers');
        context.output.print(items, (list) =>
          table(
            [
              'NAME',
              'STATE',
              'ARCH',
              'CROSS',
              'EXECUTORS',
              'CORES',
              'MEMORY',
              'LOAD',
              'LAST SEEN',
              'RUNNING',
            ],
            list.map((w) => [
              w.name,
              !w.enabled ? 'disabled' : w.online ? 'online' : 'offline',
              w.architectures.join(','),
              w.cross_architectures.join(',') || '-',
              w.executors.join(','),
              w.cores,
              formatBytes(w.memory),
              w.load?.toFixed(2) ?? '-',
              w.last_seen_at,
              w.running.join(',') || '-',
            ]),
          ),
        );
      }),
    );

  for (const [name, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    worker
      .command(name)
      .description(`${name} a worker (admin)`)
      .argument('<name>')
      .action(
        withContext(async (context, workerName: string) => {
          const changed = await (
            await context.client()
          ).json<Worker>('PATCH', path(workerName), { enabled });
          context.output.print(
            changed,
            (w) => `Worker ${w.name} ${w.enabled ? 'enabled' : 'disabled'}`,
          );
        }),
      );
  }

  worker
    .command('remove')
    .description('remove a worker; its tasks go back to the queue (admin)')
    .argument('<name>')
    .action(
      withContext(async (context, workerName: string) => {
        await (await context.client()).json('DELETE', path(workerName));
        context.output.print({ removed: workerName }, () => `Worker ${workerName} removed`);
      }),
    );

  worker
    .command('token')
    .description('create an enrolment token for new workers (admin)')
    .argument('[action]', 'create', 'create')
    .option('--expires-in <duration>', 'lifetime, e.g. 1d (default: never)')
    .action(
      withContext(async (context, _action: string, options: { expiresIn?: string }) => {
        const created = await (
          await context.client()
        ).json<CreatedToken>('POST', '/api/v1/workers/enrolment-tokens', {
          ...(options.expiresIn === undefined
            ? {}
            : { expires_in: parseDuration(options.expiresIn) }),
        });
        context.output.print(
          created,
          (t) =>
            `Enrolment token (shown once):\n${t.token}\nStart a worker: kiln worker --server URL --token ${t.token}`,
        );
      }),
    );
}
