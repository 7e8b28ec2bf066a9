import { Readable } from 'node:stream';
import type { ArtifactFile } from '../../protocol/artifacts.schema.ts';
import { KilnError } from '../../protocol/errors.ts';
import type { Actor } from '../auth/actor.ts';
import type { StagedFile } from '../files/file-store.ts';
import { readParts } from '../files/stream-parts.ts';
import { authorizeArtifact } from './artifact-access.ts';
import { changeArtifact, type ArtifactDeps } from './artifact-change.ts';
import { toFile } from './artifact-views.ts';
import {
  findArtifactFile,
  insertFileRow,
  insertFileRows,
  listArtifactFiles,
  markContentComplete,
  markContentsComplete,
  touchArtifact,
} from './artifact.repository.ts';

/**
 * Receives the content of a declared file: streamed to the file store's staging
 * area, hashed on the way, checked against the declared size and sha256, and
 * only then committed. A failed upload leaves nothing behind.
 */
export async function uploadFile(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  path: string,
  body: Readable,
  options: { contentLength?: number | undefined; signal?: AbortSignal | undefined },
): Promise<ArtifactFile> {
  await authorizeArtifact(deps.db, actor, id, 'change');
  const declared = await findArtifactFile(deps.db, id, path);
  if (declared === undefined) {
    throw new KilnError('not_found', `artifact ${id} has no file ${path}: declare it first`);
  }
  if (declared.complete) {
    return toFile(declared);
  }
  if (options.contentLength !== undefined && options.contentLength !== declared.size) {
    throw new KilnError(
      'size_mismatch',
      `${path} is declared as ${declared.size} bytes but ${options.contentLength} are being sent`,
    );
  }
  const staged = await deps.store
    .stage(body, { maxSize: declared.size, signal: options.signal })
    .catch((error: unknown) => {
      throw error instanceof KilnError && error.code === 'too_large'
        ? new KilnError(
            'size_mismatch',
            `${path} is longer than its declared ${declared.size} bytes`,
          )
        : error;
    });
  try {
    if (staged.size !== declared.size) {
      throw new KilnError(
        'size_mismatch',
        `${path} is declared as ${declared.size} bytes but ${staged.size} were received`,
      );
    }
    if (staged.sha256 !== declared.sha256) {
      throw new KilnError(
        'sha256_mismatch',
        `${path} is declared with sha256 ${declared.sha256} but the content's is ${staged.sha256}`,
      );
    }
    await changeArtifact(deps, actor, id, async (db) => {
      const current = await findArtifactFile(db, id, path);
      if (current?.sha256 !== staged.sha256) {
        throw new KilnError('conflict', `${path} of artifact ${id} changed during the upload`);
      }
      if (await insertFileRow(db, staged.sha256, staged.size)) {
        await staged.commit();
      }
      await markContentComplete(db, id, staged.sha256);
      await touchArtifact(db, id);
    });
  } finally {
    await staged.discard();
  }
  return { ...toFile(declared), complete: true };
}

/** Parts up to this size are read into memory, so that several are written at once. */
const smallPartBytes = 1024 * 1024;
const writesInFlight = 8;

/**
 * Receives the contents of all of an artifact's incomplete files in one
 * request (many small files, a .deb per package say): each distinct content
 * once, in the order the artifact lists its files, one after the other. Each
 * is checked against its declared size and sha256 like a single upload; the
 * batch is made durable with one sync and recorded in one transaction. A
 * failed batch leaves nothing behind. Returns the files, now complete.
 */
export async function uploadContents(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  body: Readable,
  options: { contentLength?: number | undefined },
): Promise<ArtifactFile[]> {
  await authorizeArtifact(deps.db, actor, id, 'change');
  const seen = new Set<string>();
  const expected = (await listArtifactFiles(deps.db, id)).filter((f) => {
    const first = !seen.has(f.sha256);
    seen.add(f.sha256);
    return first && !f.complete;
  });
  const total = expected.reduce((sum, f) => sum + f.size, 0);
  if (options.contentLength !== undefined && options.contentLength !== total) {
    throw new KilnError(
      'size_mismatch',
      `artifact ${id} waits for ${expected.length} contents of ${total} bytes in all, but ${options.contentLength} are being sent`,
    );
  }
  const staged: StagedFile[] = [];
  let files: ArtifactFile[] = [];
  const writing = new Set<Promise<void>>();
  const failures: unknown[] = [];
  const throwIfFailed = () => {
    if (failures.length > 0) {
      throw failures[0];
    }
  };
  const stage = async (index: number, content: AsyncIterable<Buffer> | Buffer) => {
    const file = expected[index];
    if (file === undefined) {
      return;
    }
    const done = await deps.store.stage(
      Buffer.isBuffer(content) ? content : Readable.from(content),
      { maxSize: file.size, deferSync: true },
    );
    staged.push(done);
    if (done.size !== file.size || done.sha256 !== file.sha256) {
      throw new KilnError(
        done.size === file.size ? 'sha256_mismatch' : 'size_mismatch',
        `${file.path} is declared with ${file.size} bytes and sha256 ${file.sha256}, but ${done.size} bytes with sha256 ${done.sha256} were received`,
      );
    }
  };
  try {
    await readParts(
      body,
      expected.map((f) => f.size),
      async (index, part) => {
        if (!Buffer.isBuffer(part)) {
          await stage(index, part);
          return;
        }
        // Small, and read whole: write while the next ones arrive.
        while (writing.size >= writesInFlight) {
          await Promise.race(writing);
        }
        throwIfFailed();
        // A write's failure is kept, not thrown at once: a refusal may come
        // before anything waits for it, and it leaves the set when it ends.
        const write: Promise<void> = stage(index, part)
          .catch((error: unknown) => {
            failures.push(error);
          })
          .finally(() => {
            writing.delete(write);
          });
        writing.add(write);
      },
      smallPartBytes,
    );
    await Promise.all(writing);
    throwIfFailed();
    files = await changeArtifact(deps, actor, id, async (db) => {
      const rows = await listArtifactFiles(db, id);
      const current = new Map(rows.map((f) => [f.path, f.sha256]));
      if (expected.some((f) => current.get(f.path) !== f.sha256)) {
        throw new KilnError('conflict', `the files of artifact ${id} changed during the upload`);
      }
      const added = await insertFileRows(
        db,
        staged.map((f) => ({ sha256: f.sha256, size: f.size })),
      );
      const commits = staged.filter((f) => added.has(f.sha256));
      for (let i = 0; i < commits.length; i += writesInFlight) {
        await Promise.all(commits.slice(i, i + writesInFlight).map((f) => f.commit()));
      }
      await deps.store.sync(commits.map((f) => f.sha256));
      await markContentsComplete(
        db,
        id,
        expected.map((f) => f.sha256),
      );
      await touchArtifact(db, id);
      // As the rows are now, without reading them again.
      const received = new Set(expected.map((f) => f.sha256));
      return rows.map((row) =>
        toFile({ ...row, complete: row.complete || received.has(row.sha256) }),
      );
    });
  } finally {
    await Promise.allSettled(writing);
    await Promise.all(staged.map((f) => f.discard()));
  }
  return files;
}
