import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Artifact, ArtifactFile, FileDeclaration } from '../protocol/artifacts.schema.ts';
import { explainBadFileName } from '../protocol/file-names.ts';
import { ClientError, digestStream, type Client } from './client.ts';

/** A local file to send, under the name it gets in the artifact. */
export interface LocalFile extends FileDeclaration {
  readonly localPath: string;
  /** The content of a file this small (`keptFileBytes`), kept from hashing: sent without reading it again. */
  readonly content?: Buffer;
}

/**
 * Files up to this size keep their content from hashing to sending: the
 * thousands of small files of a package set are read once, not twice (a
 * declaration of 2,000 such files holds at most 32 MB).
 */
const keptFileBytes = 16 * 1024;

/** Counts transferred bytes (for progress bars). */
export type OnBytes = (bytes: number) => void;

/** Hashes a local file into the declaration of an artifact file named `name`. */
export async function describeLocalFile(
  name: string,
  localPath: string,
  onBytes?: OnBytes,
): Promise<LocalFile> {
  const reason = explainBadFileName(name);
  if (reason !== undefined) {
    throw new ClientError(`${JSON.stringify(name)}: ${reason}`, 'invalid_file_name');
  }
  const content = readSmallFile(localPath);
  if (content !== undefined) {
    onBytes?.(content.length);
    return {
      path: name,
      size: content.length,
      sha256: createHash('sha256').update(content).digest('hex'),
      localPath,
      ...(content.length <= keptFileBytes ? { content } : {}),
    };
  }
  const { sha256, size } = await digestStream(createReadStream(localPath), onBytes);
  return { path: name, size, sha256, localPath };
}

/**
 * The content of a regular file of up to `batchFileBytes`, else undefined.
 * Read at once, and synchronously: for the thousands of small files of a
 * package set, an asynchronous open, stat, read and close cost several times
 * the reading itself (20,000 .debs: 2.0 s against 0.5 s here). One open,
 * fstat, read and close: a stat by path beforehand and `readFileSync` took
 * 1.5 times as long (20,000 .debs: 345 ms against 235).
 */
function readSmallFile(localPath: string): Buffer | undefined {
  const fd = openSync(localPath, 'r');
  try {
    const info = fstatSync(fd);
    if (!info.isFile() || info.size > batchFileBytes) {
      return undefined;
    }
    const content = Buffer.allocUnsafe(info.size);
    let done = 0;
    while (done < content.length) {
      const read = readSync(fd, content, done, content.length - done, done);
      if (read === 0) {
        break; // Shorter than it was: what there is.
      }
      done += read;
    }
    return done === content.length ? content : content.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

export function fileUrl(artifactId: number, path: string): string {
  return `/api/v1/artifacts/${artifactId}/files/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * Uploads the content of every declared file the server does not have yet
 * (once per distinct content: the server completes all files that share it).
 * Returns how many it sent.
 */
export async function uploadMissing(
  client: Client,
  artifactId: number,
  declared: readonly ArtifactFile[],
  local: readonly LocalFile[],
  onBytes?: OnBytes,
): Promise<number> {
  const seen = new Set<string>();
  const missing = declared.filter((f) => {
    const first = !seen.has(f.sha256);
    seen.add(f.sha256);
    return first && !f.complete;
  });
  const byPath = new Map(local.map((l) => [l.path, l]));
  if (missing.length > 1 && missing.every((f) => f.size <= batchFileBytes)) {
    // Many small files: one request, not one each (see PUT /artifacts/{id}/content).
    const sources = missing.map((file) => {
      const source = byPath.get(file.path);
      if (source === undefined) {
        throw new ClientError(`no local file for ${file.path}`);
      }
      return source;
    });
    const total = missing.reduce((sum, f) => sum + f.size, 0);
    const body = Readable.from(concatenateFiles(sources, onBytes));
    await client.upload(`/api/v1/artifacts/${artifactId}/content`, body, total);
    return missing.length;
  }
  for (const file of missing) {
    const source = byPath.get(file.path);
    if (source === undefined) {
      throw new ClientError(`no local file for ${file.path}`);
    }
    const stream = createReadStream(source.localPath, { highWaterMark: 1024 * 1024 });
    if (onBytes !== undefined) {
      stream.on('data', (chunk) => {
        onBytes(chunk.length);
      });
    }
    await client.upload(fileUrl(artifactId, file.path), stream, file.size);
  }
  return missing.length;
}

/** Files up to this size are sent together in one request when an artifact has several. */
const batchFileBytes = 1024 * 1024;

async function* concatenateFiles(
  files: readonly LocalFile[],
  onBytes: OnBytes | undefined,
): AsyncGenerator<Buffer> {
  // Written a few dozen KB at a time, not a stream write per small file.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for (const file of files) {
    // Small files (see describeLocalFile): kept, or read synchronously.
    const content = file.content ?? readFileSync(file.localPath);
    onBytes?.(content.length);
    pending.push(content);
    pendingBytes += content.length;
    if (pendingBytes >= sendBytes) {
      yield Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
    }
  }
  if (pendingBytes > 0) {
    yield Buffer.concat(pending, pendingBytes);
  }
}

/** What the concatenated small files are sent in. */
const sendBytes = 64 * 1024;

/** The bytes `downloadFiles` would transfer. */
export function selectFiles(
  artifact: Artifact,
  paths: readonly string[] | undefined,
): readonly ArtifactFile[] {
  const unknown = (paths ?? []).filter((p) => !artifact.files.some((f) => f.path === p));
  if (unknown.length > 0) {
    throw new ClientError(`artifact ${artifact.id} has no file ${unknown.join(', ')}`, 'not_found');
  }
  return paths === undefined || paths.length === 0
    ? artifact.files
    : artifact.files.filter((f) => paths.includes(f.path));
}

/**
 * Downloads files of an artifact into `outputDir` (all, or `paths`), each
 * checked against its sha256 and size and renamed into place only when it
 * matches. A name that could escape `outputDir` is refused. Returns the paths
 * written.
 */
export async function downloadFiles(
  client: Client,
  artifact: Artifact,
  paths: readonly string[] | undefined,
  outputDir: string,
  onBytes?: OnBytes,
): Promise<string[]> {
  const written: string[] = [];
  for (const file of selectFiles(artifact, paths)) {
    const reason = explainBadFileName(file.path);
    if (reason !== undefined) {
      throw new ClientError(
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
        onBytes?.(chunk.length);
        callback(null, chunk);
      },
    });
    const handle = await open(temp, 'w');
    try {
      await pipeline(response, check, handle.createWriteStream());
      if (hash.digest('hex') !== file.sha256 || size !== file.size) {
        throw new ClientError(
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
  return written;
}
