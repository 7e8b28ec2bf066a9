import type { Command } from 'commander';
import type { CreatedWebhook, Webhook, WebhookDelivery } from '../../protocol/webhooks.schema.ts';
import { ClientError } from '../../client/client.ts';
import { withContext } from '../context.ts';
import { table } from '../output.ts';

const path = (workspace: string, id = '') =>
  `/api/v1/workspaces/${encodeURIComponent(workspace)}/webhooks${id === '' ? '' : `/${id}`}`;

function parseId(text: string): string {
  if (!/^[1-9]\d{0,15}$/.test(text)) {
    throw new ClientError(`${JSON.stringify(text)} is not a webhook id`, 'usage');
  }
  return text;
}

export function registerWebhookCommands(program: Command): void {
  const webhook = program
    .command('webhook')
    .description('outbound webhooks: signed POSTs on run and task events');
  webhook
    .command('create')
    .description('subscribe a URL to events; prints its signing secret once (owner)')
    .argument('<workspace>')
    .argument('<url>')
    .requiredOption(
      '--event <event>',
      'task.ended, run.started or run.ended (repeatable)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .action(
      withContext(async (context, workspace: string, url: string, options: { event: string[] }) => {
        const created = await (
          await context.client()
        ).json<CreatedWebhook>('POST', path(workspace), {
          url,
          events: options.event,
        });
        context.output.print(
          created,
          (w) =>
            `Webhook ${w.id} created: ${w.events.join(', ')} to ${w.url}\nsecret: ${w.secret}\n(shown once: it keys the X-Kiln-Signature HMAC)`,
        );
      }),
    );
  webhook
    .command('list')
    .description("a workspace's webhooks (owner)")
    .argument('<workspace>')
    .action(
      withContext(async (context, workspace: string) => {
        const { items } = await (
          await context.client()
        ).json<{ items: Webhook[] }>('GET', path(workspace));
        context.output.print(items, (list) =>
          table(
            ['ID', 'URL', 'EVENTS'],
            list.map((w) => [w.id, w.url, w.events.join(',')]),
          ),
        );
      }),
    );
  webhook
    .command('delete')
    .description('delete a webhook (owner)')
    .argument('<workspace>')
    .argument('<id>')
    .action(
      withContext(async (context, workspace: string, id: string) => {
        await (await context.client()).json('DELETE', path(workspace, parseId(id)));
        context.output.print({ deleted: Number(id) }, () => `Webhook ${id} deleted`);
      }),
    );
  webhook
    .command('deliveries')
    .description("a webhook's latest deliveries, with each attempt's HTTP status (owner)")
    .argument('<workspace>')
    .argument('<id>')
    .action(
      withContext(async (context, workspace: string, id: string) => {
        const { items } = await (
          await context.client()
        ).json<{ items: WebhookDelivery[] }>('GET', `${path(workspace, parseId(id))}/deliveries`);
        context.output.print(items, (list) =>
          table(
            ['ID', 'EVENT', 'STATE', 'ATTEMPTS', 'NEXT TRY', 'CREATED'],
            list.map((d) => [
              d.id,
              d.event,
              d.state,
              d.attempts.map((a) => a.status_code ?? a.error ?? '?').join(' '),
              d.next_attempt_at,
              d.created_at,
            ]),
          ),
        );
      }),
    );
}
