import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Client } from '../../client/client.ts';
import { parseDeb822, parseFileList, stripClearsign } from '../../debian/deb822.ts';
import type { Artifact } from '../../protocol/artifacts.schema.ts';
import { collectLocalFiles, uploadWithProgress } from '../transfer.ts';
import { repositoryPath } from './repo-operations.ts';

/** Files in and out of `kiln repo`: packages uploaded by `add`, a publication written by `export`. */

/** Uploads package files as one artifact; a .changes brings the files it lists. */
export async function uploadPackages(
  client: Client,
  workspace: string,
  files: readonly string[],
  progress: boolean,
): Promise<number> {
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
export async function exportRepository(
  client: Client,
  workspace: string,
  name: string,
  dir: string,
): Promise<number> {
  const tree = await client.json<Tree>('GET', `${repositoryPath(workspace, name)}/tree`);
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
