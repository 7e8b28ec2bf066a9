import type { Command } from 'commander';
import type { Publication, RepoPackage, Repository } from '../../protocol/repos.schema.ts';
import { withContext } from '../context.ts';
import { parseDuration, table } from '../output.ts';
import { exportRepository, uploadPackages } from './repo-files.ts';
import {
  publicationOf,
  registerOperationCommands,
  repositoryPath as path,
  runOperation,
} from './repo-operations.ts';

const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

function describe(r: Repository): string {
  const lines = [
    `repository:   ${r.workspace}/${r.name}`,
    `url:          ${r.url}`,
    `origin/label: ${r.origin} / ${r.label}`,
    `publication:  ${r.publication ?? '-'}`,
    `keys:         ${r.keys.map((k) => `${k.fingerprint} (${k.state})`).join(', ') || '-'}`,
    'suites:',
    ...r.suites.map(
      (s) =>
        `  ${s.codename} (${s.suite}): ${s.components.join(' ')} [${s.architectures.join(' ')}]`,
    ),
    '',
    'To use it with apt:',
    `  curl -fsSL ${r.url}/key.asc | sudo tee /etc/apt/keyrings/${r.name}.asc`,
    ...r.suites.map(
      (s) =>
        `  deb [signed-by=/etc/apt/keyrings/${r.name}.asc] ${r.url} ${s.codename} ${s.components.join(' ')}`,
    ),
  ];
  return lines.join('\n');
}

export function registerRepoCommands(program: Command): void {
  const repo = program
    .command('repo')
    .description('APT repositories: signed, by-hash, with history');

  repo
    .command('create')
    .description('create a repository with its own signing key')
    .argument('<workspace>')
    .argument('<name>')
    .option(
      '--suite <codename[:suite]>',
      'a suite (repeatable), e.g. bookworm:stable',
      (v: string, all: string[] | undefined) => [...(all ?? []), v],
    )
    .option('--components <list>', 'components of every suite', 'main')
    .option('--arch <list>', 'architectures of every suite', 'amd64')
    .option('--origin <text>')
    .option('--label <text>')
    .option('--description <text>')
    .option('--valid-for <duration>', 'Valid-Until this long after each publication, e.g. 7d')
    .option('--keep <n>', 'publications kept in the history', '20')
    .action(
      withContext(
        async (
          context,
          workspace: string,
          name: string,
          options: {
            suite?: string[];
            components: string;
            arch: string;
            origin?: string;
            label?: string;
            description?: string;
            validFor?: string;
            keep: string;
          },
        ) => {
          const suites = (options.suite ?? ['stable']).map((s) => {
            const [codename = '', suite] = s.split(':');
            return {
              codename,
              ...(suite === undefined ? {} : { suite }),
              components: list(options.components),
              architectures: list(options.arch),
            };
          });
          const created = await (
            await context.client()
          ).json<Repository>(
            'POST',
            `/api/v1/workspaces/${encodeURIComponent(workspace)}/repositories`,
            {
              name,
              suites,
              keep_publications: Number(options.keep),
              ...(options.origin === undefined ? {} : { origin: options.origin }),
              ...(options.label === undefined ? {} : { label: options.label }),
              ...(options.description === undefined ? {} : { description: options.description }),
              ...(options.validFor === undefined
                ? {}
                : { valid_for: parseDuration(options.validFor) }),
            },
          );
          context.output.print(created, describe);
        },
      ),
    );

  repo
    .command('list')
    .description("a workspace's repositories")
    .argument('<workspace>')
    .action(
      withContext(async (context, workspace: string) => {
        const { items } = await (
          await context.client()
        ).json<{ items: Repository[] }>(
          'GET',
          `/api/v1/workspaces/${encodeURIComponent(workspace)}/repositories`,
        );
        context.output.print(items, (rs) =>
          table(
            ['NAME', 'SUITES', 'PUBLICATION', 'URL'],
            rs.map((r) => [
              r.name,
              r.suites.map((s) => s.codename).join(','),
              r.publication,
              r.url,
            ]),
          ),
        );
      }),
    );

  repo
    .command('show')
    .description('a repository, and the sources.list line to use it')
    .argument('<workspace>')
    .argument('<name>')
    .action(
      withContext(async (context, workspace: string, name: string) => {
        context.output.print(
          await (await context.client()).json<Repository>('GET', path(workspace, name)),
          describe,
        );
      }),
    );

  repo
    .command('add')
    .description(
      'add packages (artifact ids, or .deb/.dsc/.changes files to upload) to a suite, and publish',
    )
    .argument('<workspace>')
    .argument('<name>')
    .argument('<items...>', 'artifact ids, or files (a .changes brings the files it lists)')
    .requiredOption('--suite <codename>')
    .option('--component <name>')
    .option('--force', 'accept a version older than the one in the suite')
    .action(
      withContext(
        async (
          context,
          workspace: string,
          name: string,
          items: string[],
          options: { suite: string; component?: string; force?: boolean },
        ) => {
          const client = await context.client();
          const ids = items.filter((i) => /^\d+$/.test(i)).map(Number);
          const files = items.filter((i) => !/^\d+$/.test(i));
          if (files.length > 0) {
            ids.push(await uploadPackages(client, workspace, files, !context.output.json));
          }
          const task = await runOperation(client, context.output, workspace, name, 'include', {
            suite: options.suite,
            artifacts: ids,
            ...(options.component === undefined ? {} : { component: options.component }),
            ...(options.force === true ? { force: true } : {}),
          });
          context.output.print(task, (t) => `Published (publication ${publicationOf(t)})`);
        },
      ),
    );

  registerOperationCommands(repo);

  repo
    .command('history')
    .description('the publications, newest first')
    .argument('<workspace>')
    .argument('<name>')
    .action(
      withContext(async (context, workspace: string, name: string) => {
        const { items } = await (
          await context.client()
        ).json<{ items: Publication[] }>('GET', `${path(workspace, name)}/publications`);
        context.output.print(items, (ps) =>
          table(
            ['NUMBER', 'CREATED', 'FILES', 'CURRENT'],
            ps.map((p) => [p.number, p.created_at, p.files, p.current ? 'yes' : '']),
          ),
        );
      }),
    );

  repo
    .command('packages')
    .description('the packages in a repository')
    .argument('<workspace>')
    .argument('<name>')
    .option('--suite <codename>')
    .action(
      withContext(async (context, workspace: string, name: string, options: { suite?: string }) => {
        const query =
          options.suite === undefined ? '' : `?suite=${encodeURIComponent(options.suite)}`;
        const { items } = await (
          await context.client()
        ).json<{ items: RepoPackage[] }>('GET', `${path(workspace, name)}/packages${query}`);
        context.output.print(items, (ps) =>
          table(
            ['SUITE', 'COMPONENT', 'PACKAGE', 'VERSION', 'ARCH'],
            ps.map((p) => [p.suite, p.component, p.package, p.version, p.architecture]),
          ),
        );
      }),
    );

  repo
    .command('key')
    .description("print the repository's public key (or rotate it)")
    .argument('<workspace>')
    .argument('<name>')
    .option('--rotate', 'make a new key; the old one keeps signing until --retire')
    .option('--retire', 'stop signing with the old keys')
    .action(
      withContext(
        async (
          context,
          workspace: string,
          name: string,
          options: { rotate?: boolean; retire?: boolean },
        ) => {
          const client = await context.client();
          if (options.rotate === true || options.retire === true) {
            const changed = await client.json<Repository>(
              'POST',
              `${path(workspace, name)}/keys/${options.rotate === true ? 'rotate' : 'retire'}`,
            );
            context.output.print(changed, describe);
            return;
          }
          const response = await client.download(`${path(workspace, name)}/key`);
          for await (const chunk of response) {
            process.stdout.write(chunk as Buffer);
          }
        },
      ),
    );

  repo
    .command('export')
    .description(
      'write the repository (current publication, with by-hash files, and pool) to a directory for any web server',
    )
    .argument('<workspace>')
    .argument('<name>')
    .argument('<dir>')
    .action(
      withContext(async (context, workspace: string, name: string, dir: string) => {
        const written = await exportRepository(await context.client(), workspace, name, dir);
        context.output.print({ files: written, dir }, () => `${written} files written to ${dir}`);
      }),
    );
}
