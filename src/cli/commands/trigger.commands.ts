import { mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { CreatedTrigger, Trigger, TriggerDelivery } from '../../protocol/triggers.schema.ts';
import { withContext } from '../context.ts';
import { checkBareRepository, writeGitHook } from '../git-hook.ts';
import { table } from '../output.ts';

const path = (workspace: string, name = '') =>
  `/api/v1/workspaces/${encodeURIComponent(workspace)}/triggers${name === '' ? '' : `/${encodeURIComponent(name)}`}`;

const collect = (value: string, previous: string[] = []) => [...previous, value];

function describeTrigger(t: Trigger): string {
  return [
    `name:       ${t.name} (${t.kind})`,
    `template:   ${t.template}`,
    `refs:       ${t.refs.join(' ')}`,
    `repository: ${t.repository_url ?? '(the one the forge sends)'}`,
    `command:    ${t.command ?? '-'}`,
    `hook URL:   ${t.hook_url}`,
  ].join('\n');
}

interface CreateOptions {
  kind: string;
  template: string;
  ref?: string[];
  url?: string;
  command?: string;
}

export function registerTriggerCommands(program: Command): void {
  const trigger = program
    .command('trigger')
    .description('triggers: forge webhooks and git hooks that start runs');
  trigger
    .command('create')
    .description('create a forge webhook trigger; prints its secret once (owner)')
    .argument('<workspace>')
    .argument('<name>')
    .requiredOption('--kind <kind>', 'github, gitlab, gitea or forgejo')
    .requiredOption('--template <template>', 'the workflow template a push starts')
    .option(
      '--ref <glob>',
      'refs that start runs (repeatable; default refs/heads/* and refs/tags/*)',
      collect,
    )
    .option('--url <git-url>', 'fetch from here instead of the clone URL the forge sends')
    .option(
      '--command <text>',
      'a pull-request comment that starts a run (GitHub), e.g. "/kiln build"',
    )
    .action(
      withContext(async (context, workspace: string, name: string, options: CreateOptions) => {
        const created = await (
          await context.client()
        ).json<CreatedTrigger>('POST', path(workspace), {
          name,
          kind: options.kind,
          template: options.template,
          refs: options.ref ?? ['refs/heads/*', 'refs/tags/*'],
          ...(options.url === undefined ? {} : { repository_url: options.url }),
          ...(options.command === undefined ? {} : { command: options.command }),
        });
        context.output.print(
          created,
          (t) =>
            `${describeTrigger(t)}\nsecret:     ${t.secret}\n\nGive the forge the hook URL, content type application/json, and this secret (shown once).`,
        );
      }),
    );
  trigger
    .command('list')
    .description("a workspace's triggers")
    .argument('<workspace>')
    .action(
      withContext(async (context, workspace: string) => {
        const { items } = await (
          await context.client()
        ).json<{ items: Trigger[] }>('GET', path(workspace));
        context.output.print(items, (list) =>
          table(
            ['NAME', 'KIND', 'TEMPLATE', 'REFS', 'HOOK URL'],
            list.map((t) => [t.name, t.kind, t.template, t.refs.join(' '), t.hook_url]),
          ),
        );
      }),
    );
  trigger
    .command('show')
    .description('a trigger')
    .argument('<workspace>')
    .argument('<name>')
    .action(
      withContext(async (context, workspace: string, name: string) => {
        const shown = await (await context.client()).json<Trigger>('GET', path(workspace, name));
        context.output.print(shown, describeTrigger);
      }),
    );
  trigger
    .command('delete')
    .description('delete a trigger (owner)')
    .argument('<workspace>')
    .argument('<name>')
    .action(
      withContext(async (context, workspace: string, name: string) => {
        await (await context.client()).json('DELETE', path(workspace, name));
        context.output.print({ deleted: name }, () => `Trigger ${name} deleted`);
      }),
    );
  trigger
    .command('deliveries')
    .description('what reached a trigger lately, and what came of it (owner)')
    .argument('<workspace>')
    .argument('<name>')
    .action(
      withContext(async (context, workspace: string, name: string) => {
        const { items } = await (
          await context.client()
        ).json<{ items: TriggerDelivery[] }>('GET', `${path(workspace, name)}/deliveries`);
        context.output.print(items, (list) =>
          table(
            ['RECEIVED', 'EVENT', 'OUTCOME', 'MESSAGE'],
            list.map((d) => [d.received_at, d.event, d.outcome, d.message]),
          ),
        );
      }),
    );
  registerHookCommands(program);
}

interface HookOptions {
  workspace: string;
  template: string;
  name?: string;
  ref?: string[];
  url?: string;
  force?: boolean;
}

function registerHookCommands(program: Command): void {
  program
    .command('hook')
    .description('git hooks that start runs')
    .command('install')
    .description("put kiln's post-receive hook in a bare repository: pushes start runs")
    .argument('<repo>', 'the bare repository')
    .requiredOption('--workspace <workspace>', 'the workspace of the template')
    .requiredOption('--template <template>', 'the workflow template a push starts')
    .option('--name <name>', 'the trigger name (default: the repository name)')
    .option(
      '--ref <glob>',
      'refs that start runs (repeatable; default refs/heads/* and refs/tags/*)',
      collect,
    )
    .option('--url <git-url>', 'where workers fetch the repository (default: its path)')
    .option('--force', "replace a post-receive hook that is not kiln's")
    .action(
      withContext(async (context, repo: string, options: HookOptions) => {
        const dir = resolve(repo);
        await checkBareRepository(dir, options.force === true);
        const name =
          options.name ??
          basename(dir)
            .replace(/\.git$/, '')
            .toLowerCase()
            .replace(/[^a-z0-9._-]/g, '-');
        const client = await context.client();
        const created = await client.json<CreatedTrigger>('POST', path(options.workspace), {
          name,
          kind: 'git',
          template: options.template,
          refs: options.ref ?? ['refs/heads/*', 'refs/tags/*'],
          repository_url: options.url ?? dir,
        });
        try {
          await mkdir(join(dir, 'hooks'), { recursive: true });
          await writeGitHook(dir, created.hook_url, created.name, created.secret);
        } catch (error) {
          // Leave no trigger whose token nobody holds.
          await client.json('DELETE', path(options.workspace, name));
          throw error;
        }
        const { secret: _secret, ...shown } = created;
        context.output.print(
          shown,
          (t) =>
            `Hook installed in ${dir}: pushes to ${t.refs.join(' ')} start runs of ${t.template} in ${t.workspace} (trigger ${t.name})`,
        );
      }),
    );
}
