import { Readable } from 'node:stream';
import { insertFileRow, lockFileRow } from '../artifacts/artifact.repository.ts';
import type { Db } from '../db/connect.ts';
import type { FileStore } from './file-store.ts';

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
  const source = Buffer.isBuffer(content) ? Readable.from([content]) : Readable.from(content);
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
