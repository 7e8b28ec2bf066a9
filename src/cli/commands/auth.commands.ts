import { Option, type Command } from 'commander';
import type { CreatedToken, Token } from '../../protocol/tokens.schema.ts';
import type { User } from '../../protocol/users.schema.ts';
import { ClientError, createClient } from '../../client/client.ts';
import { withContext } from '../context.ts';
import { forgetCredentials, loadCredentials, saveCredentials } from '../credentials.ts';
import { parseDuration, table } from '../output.ts';
import { readSecret } from '../prompt.ts';

export function registerAuthCommands(program: Command): void {
  program
    .command('login')
    .description('log in to a kiln server and remember the token')
    .argument('[url]', 'the server, e.g. http://127.0.0.1:8470 (default: the current one)')
    .option('-u, --username <name>', 'log in with this user (asks for the password)')
    .option('--password-stdin', 'read the password from standard input')
    .action(
      withContext(
        async (
          context,
          url: string | undefined,
          options: { username?: string; passwordStdin?: boolean },
        ) => {
          const globals = program.opts<{ server?: string; token?: string }>();
          const current = await loadCredentials({ server: url ?? globals.server });
          const server = current.server;
          if (server === undefined) {
            throw new ClientError('which server? run `kiln login URL`', 'usage');
          }
          let token = globals.token;
          if (options.username !== undefined) {
            const password = await readSecret(
              `Password for ${options.username}: `,
              options.passwordStdin === true,
            );
            const login = await createClient(server, undefined).json<{ token: CreatedToken }>(
              'POST',
              '/api/v1/auth/login',
              { username: options.username, password, token_name: 'kiln login' },
            );
            token = login.token.token;
          }
          token ??= await readSecret('Token: ', options.passwordStdin === true);
          const me = await createClient(server, token).json<{ user: User }>('GET', '/api/v1/me');
          const path = await saveCredentials(server, token);
          context.output.print(
            me.user,
            (user) => `Logged in to ${server} as ${user.username} (token saved in ${path})`,
          );
        },
      ),
    );

  program
    .command('logout')
    .description('forget the token of the current server')
    .action(
      withContext(async (context) => {
        const forgot = await forgetCredentials(program.opts<{ server?: string }>().server);
        context.output.print({ logged_out: forgot }, () =>
          forgot ? 'Logged out' : 'Not logged in',
        );
      }),
    );

  program
    .command('whoami')
    .description('show the user the token belongs to')
    .action(
      withContext(async (context) => {
        const client = await context.client();
        const me = await client.json<{ user: User; scopes: string[] }>('GET', '/api/v1/me');
        context.output.print(
          me,
          (m) =>
            `${m.user.username} (${m.user.role}) on ${client.server}, scopes: ${m.scopes.join(', ')}`,
        );
      }),
    );

  program
    .command('passwd')
    .description('set your password')
    .option('--password-stdin', 'read the password from standard input')
    .action(
      withContext(async (context, options: { passwordStdin?: boolean }) => {
        const password = await readSecret('New password: ', options.passwordStdin === true);
        await (await context.client()).json('PUT', '/api/v1/me/password', { password });
        context.output.print({ changed: true }, () => 'Password changed');
      }),
    );

  const token = program.command('token').description('personal API tokens');
  token
    .command('list')
    .description('your tokens')
    .action(
      withContext(async (context) => {
        const { items } = await (
          await context.client()
        ).json<{ items: Token[] }>('GET', '/api/v1/tokens');
        context.output.print(items, (tokens) =>
          table(
            ['ID', 'NAME', 'SCOPES', 'EXPIRES', 'LAST USED', 'REVOKED'],
            tokens.map((t) => [
              t.id,
              t.name,
              t.scopes.join(','),
              t.expires_at,
              t.last_used_at,
              t.revoked ? 'yes' : 'no',
            ]),
          ),
        );
      }),
    );
  token
    .command('create')
    .description('create a token (its secret is printed once)')
    .argument('<name>', 'what the token is for')
    .option('--scope <scopes>', 'comma-separated: read, write, admin (default read,write)')
    .option('--expires-in <duration>', 'lifetime, e.g. 30d or 12h (default: never)')
    .action(
      withContext(
        async (context, name: string, options: { scope?: string; expiresIn?: string }) => {
          const created = await (
            await context.client()
          ).json<CreatedToken>('POST', '/api/v1/tokens', {
            name,
            ...(options.scope === undefined
              ? {}
              : { scopes: options.scope.split(',').map((s) => s.trim()) }),
            ...(options.expiresIn === undefined
              ? {}
              : { expires_in: parseDuration(options.expiresIn) }),
          });
          context.output.print(
            created,
            (t) => `Token ${t.id} (${t.scopes.join(',')}), shown once:\n${t.token}`,
          );
        },
      ),
    );
  token
    .command('revoke')
    .description('revoke a token')
    .argument('<id>', 'token id (see `kiln token list`)')
    .action(
      withContext(async (context, id: string) => {
        await (await context.client()).json('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
        context.output.print({ revoked: Number(id) }, () => `Token ${id} revoked`);
      }),
    );

  const user = program.command('user').description('user accounts (admin)');
  const roleOption = () =>
    new Option('--role <role>', 'instance role').choices(['guest', 'developer', 'admin']);
  user
    .command('list')
    .description('all users')
    .action(
      withContext(async (context) => {
        const { items } = await (
          await context.client()
        ).json<{ items: User[] }>('GET', '/api/v1/users');
        context.output.print(items, (users) =>
          table(
            ['USERNAME', 'ROLE', 'PASSWORD', 'CREATED'],
            users.map((u) => [u.username, u.role, u.has_password ? 'set' : 'none', u.created_at]),
          ),
        );
      }),
    );
  user
    .command('create')
    .description('create a user')
    .argument('<username>')
    .addOption(roleOption().default('developer'))
    .option('--password-stdin', 'set a password, read from standard input')
    .action(
      withContext(
        async (context, username: string, options: { role: string; passwordStdin?: boolean }) => {
          const password = options.passwordStdin === true ? await readSecret('', true) : undefined;
          const created = await (
            await context.client()
          ).json<User>('POST', '/api/v1/users', {
            username,
            role: options.role,
            ...(password === undefined ? {} : { password }),
          });
          context.output.print(created, (u) => `User ${u.username} created (${u.role})`);
        },
      ),
    );
  user
    .command('set')
    .description("change a user's role or password")
    .argument('<username>')
    .addOption(roleOption())
    .option('--password-stdin', 'set a new password, read from standard input')
    .action(
      withContext(
        async (context, username: string, options: { role?: string; passwordStdin?: boolean }) => {
          const password = options.passwordStdin === true ? await readSecret('', true) : undefined;
          const changed = await (
            await context.client()
          ).json<User>('PATCH', `/api/v1/users/${encodeURIComponent(username)}`, {
            ...(options.role === undefined ? {} : { role: options.role }),
            ...(password === undefined ? {} : { password }),
          });
          context.output.print(changed, (u) => `User ${u.username}: ${u.role}`);
        },
      ),
    );
  user
    .command('delete')
    .description('delete a user')
    .argument('<username>')
    .action(
      withContext(async (context, username: string) => {
        await (
          await context.client()
        ).json('DELETE', `/api/v1/users/${encodeURIComponent(username)}`);
        context.output.print({ deleted: username }, () => `User ${username} deleted`);
      }),
    );
}
