import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Artifact, ArtifactFile, FileDeclaration } from '../protocol/artifacts.schema.ts';
import { explainBadFileName } from '../protocol/file-names.ts';
import { CliError, digestStream, type Client } from './client.ts';
import { startProgress } from './progress.ts';

/** A local file to send, under the name it gets in the artifact. */
export interface LocalFile extends FileDeclaration {
  readonly localPath: string;
}

/**
 * Expands `NAME=PATH`, `PATH` and directory arguments into files (a directory's
 * files are named relative to it), and hashes each one.
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
      throw new CliError(`${localPath}: no such file or directory`, 'usage');
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
  const total = (await Promise.all(named.map(async (f) => (await stat(f.localPath)).size))).reduce(
    (a, b) => a + b,
    0,
  );
  const progress = startProgress('hashing  ', total, showProgress && process.stderr.isTTY);
  try {
    const files: LocalFile[] = [];
    for (const { name, localPath } of named) {
      const reason = explainBadFileName(name);
      if (reason !== undefined) {
        throw new CliError(`${JSON.stringify(name)}: ${reason}`, 'invalid_file_name');
      }
      const { sha256, size } = await digestStream(createReadStream(localPath), (n) => {
        progress.add(n);
      });
      files.push({ path: name, size, sha256, localPath });
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

/** Uploads the content of every file the server does not have yet. */
export async function uploadMissing(
  client: Client,
  artifactId: number,
  declared: readonly ArtifactFile[],
  local: readonly LocalFile[],
  showProgress: boolean,
): Promise<number> {
  // The server completes every file of the artifact with the same content at once.
  const missing = declared.filter(
    (f, i) => !f.complete && declared.findIndex((g) => g.sha256 === f.sha256) === i,
  );
  const total = missing.reduce((sum, f) => sum + f.size, 0);
  const progress = startProgress(
    'uploading',
    total,
    showProgress && process.stderr.isTTY && missing.length > 0,
  );
  try {
    for (const file of missing) {
      const source = local.find((l) => l.path === file.path);
      if (source === undefined) {
        throw new CliError(`no local file for ${file.path}`);
      }
      const counted = createReadStream(source.localPath, { highWaterMark: 1024 * 1024 });
      counted.on('data', (chunk) => {
        progress.add(chunk.length);
      });
      await client.upload(fileUrl(artifactId, file.path), counted, file.size);
    }
  } finally {
    progress.stop();
  }
  return missing.length;
}

export function fileUrl(artifactId: number, path: string): string {
  return `/api/v1/artifacts/${artifactId}/files/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * Downloads files of an artifact into `outputDir`, each checked against its
 * sha256 and size and renamed into place only when it matches.
 */
export async function downloadFiles(
  client: Client,
  artifact: Artifact,
  paths: readonly string[] | undefined,
  outputDir: string,
  showProgress: boolean,
): Promise<string[]> {
  const wanted =
    paths === undefined || paths.length === 0
      ? artifact.files
      : artifact.files.filter((f) => paths.includes(f.path));
  const unknown = (paths ?? []).filter((p) => !artifact.files.some((f) => f.path === p));
  if (unknown.length > 0) {
    throw new CliError(`artifact ${artifact.id} has no file ${unknown.join(', ')}`, 'not_found');
  }
  const total = wanted.reduce((sum, f) => sum + f.size, 0);
  const progress = startProgress('downloading', total, showProgress && process.stderr.isTTY);
  const written: string[] = [];
  try {
    for (const file of wanted) {
      const reason = explainBadFileName(file.path);
      if (reason !== undefined) {
        throw new CliError(
          `refusing to write ${JSON.stringify(file.path)}: ${reason}`,
          'invalid_file_name',
        );
      }
      const target = join(outputDir, ...file.path.split('/'));
      await mkdir(dirname(target), { recursive: true });
      const temp = `${target}.kiln-partial`;
      const response = await client.download(fileUrl(artifact.id, file.path));
      const hash = createHash('sha256');
      let size = 0;
      const check = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          size += chunk.length;
          progress.add(chunk.length);
          callback(null, chunk);
        },
      });
      const handle = await open(temp, 'w');
      try {
        await pipeline(response, check, handle.createWriteStream());
        const sha256 = hash.digest('hex');
        if (sha256 !== file.sha256 || size !== file.size) {
          throw new CliError(
            `${file.path}: the downloaded content does not match its sha256`,
            'sha256_mismatch',
          );
        }
        await rename(temp, target);
      } finally {
        await rm(temp, { force: true });
      }
      written.push(target);
    }
  } finally {
    progress.stop();
  }
  return written;
}
