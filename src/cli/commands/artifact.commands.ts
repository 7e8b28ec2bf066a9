import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type {
  Artifact,
  ArtifactFile,
  ArtifactSummary,
  GcResult,
} from '../../protocol/artifacts.schema.ts';
import { ClientError } from '../../client/client.ts';
import { withContext } from '../context.ts';
import { formatBytes } from '../progress.ts';
import { table } from '../output.ts';
import { fileUrl } from '../../client/transfer.ts';
import { collectLocalFiles, downloadWithProgress, uploadWithProgress } from '../transfer.ts';

const artifactPath = (id: string | number) => `/api/v1/artifacts/${encodeURIComponent(String(id))}`;

function parseId(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new ClientError(`${JSON.stringify(text)} is not an artifact id`, 'usage');
  }
  return Number(text);
}

async function parseData(
  json: string | undefined,
  file: string | undefined,
): Promise<Record<string, unknown> | undefined> {
  const text = file === undefined ? json : await readFile(file, 'utf8');
  if (text === undefined) {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ClientError(`the data is not JSON: ${(error as Error).message}`, 'malformed_json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ClientError('the data must be a JSON object', 'usage');
  }
  return value as Record<string, unknown>;
}

function parseRelation(text: string, all: { type: string; target: number }[] = []) {
  const match = /^([a-z-]+):(\d+)$/.exec(text);
  if (match?.[1] === undefined || match[2] === undefined) {
    throw new ClientError(`${JSON.stringify(text)} is not TYPE:ID (e.g. built-using:12)`, 'usage');
  }
  return [...all, { type: match[1], target: Number(match[2]) }];
}

function describe(a: Artifact): string {
  const lines = [
    `id:          ${a.id}`,
    `workspace:   ${a.workspace}`,
    `type:        ${a.type}`,
    `immutable:   ${a.immutable ? 'yes' : 'no'}`,
    `created:     ${a.created_at} by ${a.created_by ?? '-'}`,
    `updated:     ${a.updated_at}`,
    `expires:     ${a.expires_at ?? 'never'}`,
    `data:        ${JSON.stringify(a.data)}`,
    `relations:   ${a.relations.length === 0 ? '-' : a.relations.map((r) => `${r.type} ${r.target}`).join(', ')}`,
    'files:',
  ];
  const files = table(
    ['  PATH', 'SIZE', 'SHA256', 'COMPLETE'],
    a.files.map((f) => [
      `  ${f.path}`,
      formatBytes(f.size),
      f.sha256.slice(0, 16),
      f.complete ? 'yes' : 'no',
    ]),
  );
  return `${lines.join('\n')}\n${files}`;
}

export function registerArtifactCommands(program: Command): void {
  const artifact = program
    .command('artifact')
    .description('artifacts: typed files, data and relations');

  artifact
    .command('list')
    .description("a workspace's artifacts, newest first")
    .argument('<workspace>')
    .option('--type <type>', 'only this type')
    .option('--limit <n>', 'how many', '100')
    .action(
      withContext(async (context, workspace: string, options: { type?: string; limit: string }) => {
        const query = new URLSearchParams({
          limit: options.limit,
          ...(options.type === undefined ? {} : { type: options.type }),
        });
        const page = await (
          await context.client()
        ).json<{ items: ArtifactSummary[]; total: number }>(
          'GET',
          `/api/v1/workspaces/${encodeURIComponent(workspace)}/artifacts?${query.toString()}`,
        );
        context.output.print(page, (p) =>
          table(
            ['ID', 'TYPE', 'CREATED', 'BY', 'EXPIRES'],
            p.items.map((a) => [a.id, a.type, a.created_at, a.created_by, a.expires_at ?? 'never']),
          ),
        );
      }),
    );

  artifact
    .command('create')
    .description(
      'create an artifact from local files (NAME=PATH to rename, directories recursively)',
    )
    .argument('<workspace>')
    .argument('[files...]')
    .requiredOption('--type <type>', 'artifact type, e.g. debian:source-package')
    .option('--data <json>', 'JSON object of data')
    .option('--data-file <path>', 'read the data from a JSON file')
    .option('--relation <type:id>', 'relation to another artifact (repeatable)', parseRelation)
    .option('--expires-at <time>', 'RFC 3339 time, or never (default: the workspace default)')
    .action(
      withContext(
        async (
          context,
          workspace: string,
          paths: string[],
          options: {
            type: string;
            data?: string;
            dataFile?: string;
            relation?: { type: string; target: number }[];
            expiresAt?: string;
          },
        ) => {
          const data = await parseData(options.data, options.dataFile);
          const client = await context.client();
          const local = await collectLocalFiles(paths, !context.output.json);
          const created = await client.json<Artifact>(
            'POST',
            `/api/v1/workspaces/${encodeURIComponent(workspace)}/artifacts`,
            {
              type: options.type,
              ...(data === undefined ? {} : { data }),
              files: local.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
              ...(options.relation === undefined ? {} : { relations: options.relation }),
              ...(options.expiresAt === undefined
                ? {}
                : { expires_at: options.expiresAt === 'never' ? null : options.expiresAt }),
            },
          );
          const sent = await uploadWithProgress(
            client,
            created.id,
            created.files,
            local,
            !context.output.json,
          );
          const final = await client.json<Artifact>('GET', artifactPath(created.id));
          context.output.print(
            final,
            (a) => `Artifact ${a.id} created (${a.files.length} files, ${sent} uploaded)`,
          );
        },
      ),
    );

  artifact
    .command('upload')
    .description('attach local files to an artifact and upload them')
    .argument('<id>')
    .argument('<files...>')
    .action(
      withContext(async (context, id: string, paths: string[]) => {
        const artifactId = parseId(id);
        const client = await context.client();
        const local = await collectLocalFiles(paths, !context.output.json);
        const declared: ArtifactFile[] = [];
        for (const file of local) {
          declared.push(
            await client.json<ArtifactFile>('POST', `${artifactPath(artifactId)}/files`, {
              path: file.path,
              size: file.size,
              sha256: file.sha256,
            }),
          );
        }
        const sent = await uploadWithProgress(
          client,
          artifactId,
          declared,
          local,
          !context.output.json,
        );
        context.output.print(
          declared,
          () => `${local.length} files attached to artifact ${artifactId}, ${sent} uploaded`,
        );
      }),
    );

  artifact
    .command('download')
    .description("download an artifact's files (all, or those given with --file)")
    .argument('<id>')
    .option('-o, --output <dir>', 'where to write them', '.')
    .option(
      '--file <path>',
      'only this file (repeatable)',
      (value: string, all: string[] | undefined) => [...(all ?? []), value],
    )
    .action(
      withContext(async (context, id: string, options: { output: string; file?: string[] }) => {
        const client = await context.client();
        const shown = await client.json<Artifact>('GET', artifactPath(parseId(id)));
        const written = await downloadWithProgress(
          client,
          shown,
          options.file,
          options.output,
          !context.output.json,
        );
        context.output.print(written, (list) => list.join('\n'));
      }),
    );

  artifact
    .command('show')
    .description('an artifact: data, files, relations')
    .argument('<id>')
    .action(
      withContext(async (context, id: string) => {
        const shown = await (
          await context.client()
        ).json<Artifact>('GET', artifactPath(parseId(id)));
        context.output.print(shown, describe);
      }),
    );

  artifact
    .command('set-data')
    .description("replace an artifact's data")
    .argument('<id>')
    .argument('[json]', 'JSON object')
    .option('--data-file <path>', 'read the data from a JSON file')
    .action(
      withContext(
        async (context, id: string, json: string | undefined, options: { dataFile?: string }) => {
          const data = await parseData(json, options.dataFile);
          if (data === undefined) {
            throw new ClientError('give the data as JSON or with --data-file', 'usage');
          }
          const changed = await (
            await context.client()
          ).json<Artifact>('PATCH', artifactPath(parseId(id)), { data });
          context.output.print(changed, describe);
        },
      ),
    );

  artifact
    .command('immutable')
    .description('make an artifact immutable: every later change is refused')
    .argument('<id>')
    .action(
      withContext(async (context, id: string) => {
        const changed = await (
          await context.client()
        ).json<Artifact>('PATCH', artifactPath(parseId(id)), { immutable: true });
        context.output.print(changed, (a) => `Artifact ${a.id} is immutable`);
      }),
    );

  artifact
    .command('relate')
    .description('add a relation: built-using, extends or relates-to')
    .argument('<id>')
    .argument('<type>')
    .argument('<target>')
    .action(
      withContext(async (context, id: string, type: string, target: string) => {
        const changed = await (
          await context.client()
        ).json<Artifact>('POST', `${artifactPath(parseId(id))}/relations`, {
          type,
          target: parseId(target),
        });
        context.output.print(changed, (a) => `Artifact ${a.id} ${type} ${target}`);
      }),
    );

  artifact
    .command('unrelate')
    .description('remove a relation')
    .argument('<id>')
    .argument('<type>')
    .argument('<target>')
    .action(
      withContext(async (context, id: string, type: string, target: string) => {
        await (
          await context.client()
        ).json(
          'DELETE',
          `${artifactPath(parseId(id))}/relations/${encodeURIComponent(type)}/${parseId(target)}`,
        );
        context.output.print(
          { removed: { type, target: Number(target) } },
          () => `Relation removed`,
        );
      }),
    );

  artifact
    .command('remove-file')
    .description('remove a file from an artifact')
    .argument('<id>')
    .argument('<path>')
    .action(
      withContext(async (context, id: string, path: string) => {
        await (await context.client()).json('DELETE', fileUrl(parseId(id), path));
        context.output.print({ removed: path }, () => `${path} removed from artifact ${id}`);
      }),
    );

  artifact
    .command('delete')
    .description('delete an artifact no other artifact refers to')
    .argument('<id>')
    .action(
      withContext(async (context, id: string) => {
        await (await context.client()).json('DELETE', artifactPath(parseId(id)));
        context.output.print({ deleted: Number(id) }, () => `Artifact ${id} deleted`);
      }),
    );

  const admin = program.command('admin').description('instance administration (admin)');
  admin
    .command('gc')
    .description('collect garbage now: expired artifacts, then unused files')
    .action(
      withContext(async (context) => {
        const result = await (await context.client()).json<GcResult>('POST', '/api/v1/admin/gc');
        context.output.print(
          result,
          (r) =>
            `${r.artifacts_deleted} artifacts and ${r.files_deleted} files deleted, ${formatBytes(r.bytes_freed)} freed`,
        );
      }),
    );
}
