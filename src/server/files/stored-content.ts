import { Readable } from 'node:stream';
import {
  insertFileRow,
  insertFileRows,
  lockFileRow,
  lockFileRows,
} from '../artifacts/artifact.repository.ts';
import type { Db } from '../db/connect.ts';
import type { FileStore, StagedFile } from './file-store.ts';

/**
 * Stores content the server makes itself (index files, signatures, logs) in
 * the content-addressed store, recording it in the caller's transaction, and
 * returns its sha256 and size. Content already stored is not written twice.
 * With `deferSync` the caller calls `store.sync()` before its transaction
 * commits (one sync for all the content it stored).
 */
export async function storeContent(
  db: Db,
  store: FileStore,
  content: Buffer | AsyncIterable<Buffer>,
  options: { readonly deferSync?: boolean } = {},
): Promise<{ sha256: string; size: number }> {
  const source = Buffer.isBuffer(content) ? content : Readable.from(content);
  const staged = await store.stage(source, {
    maxSize: Number.MAX_SAFE_INTEGER,
    deferSync: options.deferSync === true,
  });
  try {
    // Stored already: lock its row (shared) so the garbage collector, which
    // skips locked rows, cannot remove it before this transaction's reference
    // commits; if it removed it just now, store it again.
    if (
      (await insertFileRow(db, staged.sha256, staged.size)) ||
      !(await lockFileRow(db, staged.sha256))
    ) {
      await insertFileRow(db, staged.sha256, staged.size);
      await staged.commit();
    }
    return { sha256: staged.sha256, size: staged.size };
  } finally {
    await staged.discard();
  }
}

/** Commits run at once: renames go to the file system's thread pool. */
const commitsInFlight = 8;

/**
 * Records contents staged with `deferSync` in the caller's transaction, as
 * `storeContent` does one: moves into the store those it did not hold, and
 * locks (shared) the rows of those it held, so that the garbage collector
 * cannot remove them before the caller's references commit. Returns the
 * contents it moved in: the caller syncs them (`store.sync`) before it commits.
 * The caller discards the staged files after, whatever happened.
 */
export async function recordStagedContents(
  db: Db,
  staged: readonly StagedFile[],
): Promise<string[]> {
  const unique = [...new Map(staged.map((f) => [f.sha256, f])).values()];
  const rowOf = (f: StagedFile) => ({ sha256: f.sha256, size: f.size });
  const added = await insertFileRows(db, unique.map(rowOf));
  const held = await lockFileRows(
    db,
    unique.filter((f) => !added.has(f.sha256)).map((f) => f.sha256),
  );
  // Removed by the garbage collector since it was looked for: record it again.
  const gone = unique.filter((f) => !added.has(f.sha256) && !held.has(f.sha256));
  for (const sha256 of await insertFileRows(db, gone.map(rowOf))) {
    added.add(sha256);
  }
  const commits = unique.filter((f) => added.has(f.sha256));
  for (let i = 0; i < commits.length; i += commitsInFlight) {
    await Promise.all(commits.slice(i, i + commitsInFlight).map((f) => f.commit()));
  }
  return commits.map((f) => f.sha256);
}
