import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import type { Artifact, ArtifactFile } from '../protocol/artifacts.schema.ts';
import { ClientError, type Client } from '../client/client.ts';
import {
  describeLocalFile,
  downloadFiles,
  selectFiles,
  uploadMissing,
  type LocalFile,
} from '../client/transfer.ts';
import { startProgress } from './progress.ts';

/**
 * Expands `NAME=PATH`, `PATH` and directory arguments into files (a directory's
 * files are named relative to it), and hashes each one, with a progress bar.
 */
export async function collectLocalFiles(
  args: readonly string[],
  showProgress: boolean,
): Promise<LocalFile[]> {
  const named: { name: string; localPath: string }[] = [];
  for (const arg of args) {
    const eq = arg.indexOf('=');
    const [name, localPath] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [undefined, arg];
    const info = await stat(localPath).catch(() => {
      throw new ClientError(`${localPath}: no such file or directory`, 'usage');
    });
    if (info.isDirectory()) {
      for (const file of await walk(localPath)) {
        named.push({
          name: join(name ?? '', relative(localPath, file))
            .split(sep)
            .join('/'),
          localPath: file,
        });
      }
    } else {
      named.push({ name: name ?? basename(localPath), localPath });
    }
  }
  const sizes = await Promise.all(named.map(async (f) => (await stat(f.localPath)).size));
  const progress = startProgress(
    'hashing  ',
    sizes.reduce((a, b) => a + b, 0),
    showProgress,
  );
  try {
    const files: LocalFile[] = [];
    for (const { name, localPath } of named) {
      files.push(
        await describeLocalFile(name, localPath, (n) => {
          progress.add(n);
        }),
      );
    }
    return files;
  } finally {
    progress.stop();
  }
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      files.push(...(await walk(path)));
    } else if (entry.isFile()) {
      files.push(path);
    }
  }
  return files;
}

/** Uploads what the server lacks, with a progress bar. */
export async function uploadWithProgress(
  client: Client,
  artifactId: number,
  declared: readonly ArtifactFile[],
  local: readonly LocalFile[],
  showProgress: boolean,
): Promise<number> {
  const missing = declared.filter((f) => !f.complete);
  const total = missing.reduce((sum, f) => sum + f.size, 0);
  const progress = startProgress('uploading', total, showProgress && missing.length > 0);
  try {
    return await uploadMissing(client, artifactId, declared, local, (n) => {
      progress.add(n);
    });
  } finally {
    progress.stop();
  }
}

/** Downloads an artifact's files, with a progress bar. */
export async function downloadWithProgress(
  client: Client,
  artifact: Artifact,
  paths: readonly string[] | undefined,
  outputDir: string,
  showProgress: boolean,
): Promise<string[]> {
  const total = selectFiles(artifact, paths).reduce((sum, f) => sum + f.size, 0);
  const progress = startProgress('downloading', total, showProgress);
  try {
    return await downloadFiles(client, artifact, paths, outputDir, (n) => {
      progress.add(n);
    });
  } finally {
    progress.stop();
  }
}
