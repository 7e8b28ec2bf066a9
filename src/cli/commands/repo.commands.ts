import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { ClientError, type Client } from '../../client/client.ts';
import type { Artifact } from '../../protocol/artifacts.schema.ts';
import type { Publication, RepoPackage, Repository } from '../../protocol/repos.schema.ts';
import type { Task } from '../../protocol/tasks.schema.ts';
import { withContext } from '../context.ts';
import { parseDuration, table } from '../output.ts';
import { collectLocalFiles, uploadWithProgress } from '../transfer.ts';
import { followTask } from './task.commands.ts';

const path = (workspace: string, repository: string) =>
  `/api/v1/workspaces/${encodeURIComponent(workspace)}/repositories/${encodeURIComponent(repository)}`;

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

/** Submits a repository operation (a server-side task) and waits for it, printing its log. */
async function runOperation(
  client: Client,
  workspace: string,
  repository: string,
  operation: string,
  body: unknown,
): Promise<Task> {
  const task = await client.json<Task>('POST', `${path(workspace, repository)}/${operation}`, body);
  const ended = await followTask(client, task.id);
  if (!(ended.state === 'completed' && ended.result === 'success')) {
    throw new ClientError(`${operation} failed: ${ended.message ?? ended.state}`, 'conflict');
  }
  return ended;
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
          const task = await runOperation(client, workspace, name, 'include', {
            suite: options.suite,
            artifacts: ids,
            ...(options.component === undefined ? {} : { component: options.component }),
            ...(options.force === true ? { force: true } : {}),
          });
          context.output.print(task, (t) => `Published (publication ${publicationOf(t)})`);
        },
      ),
    );

  repo
    .command('remove')
    .description(
      'remove a source package with its binaries (or one binary with --arch), and publish',
    )
    .argument('<workspace>')
    .argument('<name>')
    .argument('<package>')
    .requiredOption('--suite <codename>')
    .option('--arch <arch>', "only this architecture's binary")
    .action(
      withContext(
        async (
          context,
          workspace: string,
          name: string,
          pkg: string,
          options: { suite: string; arch?: string },
        ) => {
          const task = await runOperation(await context.client(), workspace, name, 'remove', {
            suite: options.suite,
            package: pkg,
            ...(options.arch === undefined ? {} : { architecture: options.arch }),
          });
          context.output.print(task, () => 'Removed and published');
        },
      ),
    );

  for (const [command, operation, description] of [
    ['copy', 'copy', 'copy packages from one suite to another, and publish'],
  ] as const) {
    repo
      .command(command)
      .description(description)
      .argument('<workspace>')
      .argument('<name>')
      .argument('[packages...]', 'source packages (default: all)')
      .requiredOption('--from <codename>')
      .requiredOption('--to <codename>')
      .action(
        withContext(
          async (
            context,
            workspace: string,
            name: string,
            packages: string[],
            options: { from: string; to: string },
          ) => {
            const task = await runOperation(await context.client(), workspace, name, operation, {
              from: options.from,
              to: options.to,
              ...(packages.length === 0 ? {} : { packages }),
            });
            context.output.print(task, () => 'Copied and published');
          },
        ),
      );
  }

  repo
    .command('snapshot')
    .description('snapshot a suite as a new suite')
    .argument('<workspace>')
    .argument('<name>')
    .argument('<snapshot>', "the new suite's codename")
    .requiredOption('--suite <codename>')
    .action(
      withContext(
        async (
          context,
          workspace: string,
          name: string,
          snapshot: string,
          options: { suite: string },
        ) => {
          const task = await runOperation(await context.client(), workspace, name, 'snapshot', {
            suite: options.suite,
            name: snapshot,
          });
          context.output.print(task, () => `Suite ${snapshot} published`);
        },
      ),
    );

  repo
    .command('add-arch')
    .description('add an architecture to a suite')
    .argument('<workspace>')
    .argument('<name>')
    .argument('<arch>')
    .requiredOption('--suite <codename>')
    .action(
      withContext(
        async (
          context,
          workspace: string,
          name: string,
          arch: string,
          options: { suite: string },
        ) => {
          const task = await runOperation(
            await context.client(),
            workspace,
            name,
            'add-architecture',
            { suite: options.suite, architecture: arch },
          );
          context.output.print(task, () => `${arch} added and published`);
        },
      ),
    );

  repo
    .command('publish')
    .description('publish again (e.g. to renew Valid-Until)')
    .argument('<workspace>')
    .argument('<name>')
    .action(
      withContext(async (context, workspace: string, name: string) => {
        const task = await runOperation(await context.client(), workspace, name, 'publish', {});
        context.output.print(task, (t) => `Publication ${publicationOf(t)}`);
      }),
    );

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
    .command('rollback')
    .description(
      "serve an earlier publication's indices again, signed afresh (the next change publishes the contents)",
    )
    .argument('<workspace>')
    .argument('<name>')
    .argument('<publication>')
    .action(
      withContext(async (context, workspace: string, name: string, publication: string) => {
        const task = await runOperation(await context.client(), workspace, name, 'rollback', {
          publication: Number(publication),
        });
        context.output.print(
          task,
          (t) => `Publication ${publicationOf(t)} serves what publication ${publication} served`,
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

/** Uploads package files as one artifact; a .changes brings the files it lists. */
async function uploadPackages(
  client: Client,
  workspace: string,
  files: readonly string[],
  progress: boolean,
): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const { parseDeb822, parseFileList, stripClearsign } = await import('../../debian/deb822.ts');
  const expanded = [...files];
  for (const file of files.filter((f) => f.endsWith('.changes') || f.endsWith('.dsc'))) {
    const [fields] = parseDeb822(stripClearsign(await readFile(file, 'utf8')));
    for (const listed of parseFileList(fields?.get('Files'))) {
      const sibling = join(dirname(file), listed.name);
      if (!expanded.includes(sibling)) {
        expanded.push(sibling);
      }
    }
  }
  const local = await collectLocalFiles(expanded, progress);
  const type = files.some((f) => f.endsWith('.changes'))
    ? 'debian:upload'
    : files.some((f) => f.endsWith('.dsc'))
      ? 'debian:source-package'
      : 'debian:binary-packages';
  const created = await client.json<Artifact>(
    'POST',
    `/api/v1/workspaces/${encodeURIComponent(workspace)}/artifacts`,
    {
      type,
      files: local.map(({ path: p, size, sha256 }) => ({ path: p, size, sha256 })),
    },
  );
  await uploadWithProgress(client, created.id, created.files, local, progress);
  return created.id;
}

interface Tree {
  readonly items: readonly { path: string; sha256: string; size: number }[];
}

/**
 * Writes the served tree into `dir`: pool files, by-hash index files, then the
 * dists/ files, renamed into place last so a web server serving `dir` shows the
 * old or the new publication.
 */
async function exportRepository(
  client: Client,
  workspace: string,
  name: string,
  dir: string,
): Promise<number> {
  const tree = await client.json<Tree>('GET', `${path(workspace, name)}/tree`);
  const serve = `/repos/${encodeURIComponent(workspace)}/${encodeURIComponent(name)}/`;
  const ordered = [...tree.items].sort((a, b) => rank(a.path) - rank(b.path));
  for (const file of ordered) {
    const target = join(dir, ...file.path.split('/'));
    await mkdir(dirname(target), { recursive: true });
    const response = await client.download(
      serve + file.path.split('/').map(encodeURIComponent).join('/'),
    );
    const chunks: Buffer[] = [];
    for await (const chunk of response) {
      chunks.push(chunk as Buffer);
    }
    const temp = `${target}.kiln-partial`;
    await writeFile(temp, Buffer.concat(chunks));
    await rename(temp, target);
    await rm(temp, { force: true });
  }
  return ordered.length;
}

/** Export order: pool, then by-hash, then the rest of dists/ with the Release files last. */
function rank(p: string): number {
  if (p.startsWith('pool/')) {
    return 0;
  }
  if (p.includes('/by-hash/')) {
    return 1;
  }
  return /\/(In)?Release(\.gpg)?$/.test(p) ? 3 : 2;
}

/** The publication number a finished publish task reports. */
function publicationOf(task: { output?: Record<string, unknown> | null }): string {
  const publication = task.output?.['publication'];
  return typeof publication === 'number' ? String(publication) : '?';
}
