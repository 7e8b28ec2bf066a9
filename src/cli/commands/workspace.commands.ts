import { Option, type Command } from 'commander';
import type { Member, Workspace } from '../../protocol/workspaces.schema.ts';
import { ClientError } from '../../client/client.ts';
import { withContext } from '../context.ts';
import { parseDuration, table } from '../output.ts';

const path = (workspace: string) => `/api/v1/workspaces/${encodeURIComponent(workspace)}`;

function parseExpiration(text: string | undefined): number | null | undefined {
  if (text === undefined) {
    return undefined;
  }
  return text === 'never' ? null : parseDuration(text);
}

function parseLimit(text: string): number | null {
  if (text === 'none') {
    return null;
  }
  if (!/^\d+$/.test(text)) {
    throw new ClientError(
      `--max-running: ${JSON.stringify(text)} is not a number or none`,
      'usage',
    );
  }
  return Number(text);
}

function describeWorkspace(w: Workspace): string {
  return [
    `name:        ${w.name}`,
    `visibility:  ${w.public ? 'public' : 'private'}`,
    `expiration:  ${w.default_expiration === null ? 'never' : `${w.default_expiration}s`}`,
    `max running: ${w.max_running_tasks ?? 'no limit'}`,
    `your role:   ${w.role ?? '-'}`,
    `created:     ${w.created_at}`,
  ].join('\n');
}

export function registerWorkspaceCommands(program: Command): void {
  const workspace = program
    .command('workspace')
    .description('workspaces: artifacts, members, settings');
  workspace
    .command('list')
    .description('workspaces you can see')
    .action(
      withContext(async (context) => {
        const { items } = await (
          await context.client()
        ).json<{ items: Workspace[] }>('GET', '/api/v1/workspaces');
        context.output.print(items, (list) =>
          table(
            ['NAME', 'VISIBILITY', 'ROLE', 'EXPIRATION'],
            list.map((w) => [
              w.name,
              w.public ? 'public' : 'private',
              w.role,
              w.default_expiration ?? 'never',
            ]),
          ),
        );
      }),
    );
  workspace
    .command('create')
    .description('create a workspace (you become its owner)')
    .argument('<name>')
    .option('--public', 'anyone may read it (default: private)')
    .option('--expiration <duration>', 'default artifact lifetime, e.g. 30d, or never')
    .action(
      withContext(
        async (context, name: string, options: { public?: boolean; expiration?: string }) => {
          const expiration = parseExpiration(options.expiration);
          const created = await (
            await context.client()
          ).json<Workspace>('POST', '/api/v1/workspaces', {
            name,
            public: options.public === true,
            ...(expiration === undefined ? {} : { default_expiration: expiration }),
          });
          context.output.print(
            created,
            (w) => `Workspace ${w.name} created (${w.public ? 'public' : 'private'})`,
          );
        },
      ),
    );
  workspace
    .command('show')
    .description('a workspace')
    .argument('<name>')
    .action(
      withContext(async (context, name: string) => {
        const shown = await (await context.client()).json<Workspace>('GET', path(name));
        context.output.print(shown, describeWorkspace);
      }),
    );
  workspace
    .command('set')
    .description("change a workspace's settings (owner)")
    .argument('<name>')
    .addOption(new Option('--public', 'make it public').conflicts('private'))
    .option('--private', 'make it private')
    .option('--expiration <duration>', 'default artifact lifetime, e.g. 30d, or never')
    .option('--max-running <n>', 'tasks that may run at once, or none for no limit')
    .action(
      withContext(
        async (
          context,
          name: string,
          options: {
            public?: boolean;
            private?: boolean;
            expiration?: string;
            maxRunning?: string;
          },
        ) => {
          const expiration = parseExpiration(options.expiration);
          const visibility =
            options.public === true ? true : options.private === true ? false : undefined;
          const changed = await (
            await context.client()
          ).json<Workspace>('PATCH', path(name), {
            ...(visibility === undefined ? {} : { public: visibility }),
            ...(expiration === undefined ? {} : { default_expiration: expiration }),
            ...(options.maxRunning === undefined
              ? {}
              : { max_running_tasks: parseLimit(options.maxRunning) }),
          });
          context.output.print(changed, describeWorkspace);
        },
      ),
    );
  workspace
    .command('delete')
    .description('delete a workspace and all its artifacts (owner)')
    .argument('<name>')
    .action(
      withContext(async (context, name: string) => {
        await (await context.client()).json('DELETE', path(name));
        context.output.print({ deleted: name }, () => `Workspace ${name} deleted`);
      }),
    );

  const member = program.command('member').description("a workspace's members and their roles");
  member
    .command('list')
    .description("a workspace's members")
    .argument('<workspace>')
    .action(
      withContext(async (context, name: string) => {
        const { items } = await (
          await context.client()
        ).json<{ items: Member[] }>('GET', `${path(name)}/members`);
        context.output.print(items, (list) =>
          table(
            ['USERNAME', 'ROLE', 'ADDED'],
            list.map((m) => [m.username, m.role, m.added_at]),
          ),
        );
      }),
    );
  member
    .command('add')
    .alias('set')
    .description("add a member, or change a member's role (owner)")
    .argument('<workspace>')
    .argument('<username>')
    .addOption(
      new Option('--role <role>', 'workspace role')
        .choices(['viewer', 'uploader', 'writer', 'owner'])
        .default('viewer'),
    )
    .action(
      withContext(async (context, name: string, username: string, options: { role: string }) => {
        const added = await (
          await context.client()
        ).json<Member>('PUT', `${path(name)}/members/${encodeURIComponent(username)}`, {
          role: options.role,
        });
        context.output.print(added, (m) => `${m.username} is ${m.role} of ${name}`);
      }),
    );
  member
    .command('remove')
    .description('remove a member (owner)')
    .argument('<workspace>')
    .argument('<username>')
    .action(
      withContext(async (context, name: string, username: string) => {
        await (
          await context.client()
        ).json('DELETE', `${path(name)}/members/${encodeURIComponent(username)}`);
        context.output.print({ removed: username }, () => `${username} removed from ${name}`);
      }),
    );
}
