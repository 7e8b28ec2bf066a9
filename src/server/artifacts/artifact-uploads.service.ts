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

/**
 * Parts up to this size are read into memory and staged together, up to
 * this many or this many bytes at once.
 */
const smallPartBytes = 1024 * 1024;
const batchParts = 256;
/** Staged files committed at once (a file of its own is renamed into place). */
const commitsAtOnce = 8;

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
  const check = (file: (typeof expected)[number], done: StagedFile) => {
    if (done.size !== file.size || done.sha256 !== file.sha256) {
      throw new KilnError(
        done.size === file.size ? 'sha256_mismatch' : 'size_mismatch',
        `${file.path} is declared with ${file.size} bytes and sha256 ${file.sha256}, but ${done.size} bytes with sha256 ${done.sha256} were received`,
      );
    }
  };
  // Small parts, read whole, staged a batch at a time: one write for them all.
  let batch: { file: (typeof expected)[number]; part: Buffer }[] = [];
  let batchBytes = 0;
  const stageBatch = async () => {
    const taken = batch;
    batch = [];
    batchBytes = 0;
    if (taken.length === 0) {
      return;
    }
    const done = await deps.store.stageMany(
      taken.map((t) => t.part),
      { maxSize: smallPartBytes, deferSync: true },
    );
    staged.push(...done);
    for (const [i, { file }] of taken.entries()) {
      const one = done[i];
      if (one !== undefined) {
        check(file, one);
      }
    }
  };
  try {
    await readParts(
      body,
      expected.map((f) => f.size),
      async (index, part) => {
        const file = expected[index];
        if (file === undefined) {
          return;
        }
        if (Buffer.isBuffer(part)) {
          batch.push({ file, part });
          batchBytes += part.length;
          if (batch.length >= batchParts || batchBytes >= smallPartBytes) {
            await stageBatch();
          }
          return;
        }
        await stageBatch();
        const done = await deps.store.stage(Readable.from(part), {
          maxSize: file.size,
          deferSync: true,
        });
        staged.push(done);
        check(file, done);
      },
      smallPartBytes,
    );
    await stageBatch();
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
      for (let i = 0; i < commits.length; i += commitsAtOnce) {
        await Promise.all(commits.slice(i, i + commitsAtOnce).map((f) => f.commit()));
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
    await Promise.all(staged.map((f) => f.discard()));
  }
  return files;
}
