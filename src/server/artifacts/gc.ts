import type { GcResult } from '../../protocol/artifacts.schema.ts';
import type { Db } from '../db/connect.ts';
import { isForeignKeyViolation } from '../db/errors.ts';
import type { FileStore } from '../files/file-store.ts';
import {
  deleteExpiredUnreferencedArtifacts,
  deleteUnusedFileRows,
  lockUnusedFiles,
} from './gc.repository.ts';

const batchSize = 500;

/**
 * Deletes expired artifacts that no artifact refers to (repeatedly: deleting
 * one may free what it referred to), then the stored files no artifact
 * declares. It never deletes an artifact another one refers to, nor content
 * that a concurrent upload or declaration is using.
 */
export async function collectGarbage(
  db: Db,
  store: FileStore,
  now: Date = new Date(),
): Promise<GcResult> {
  let artifactsDeleted = 0;
  for (let conflicts = 0; conflicts < 10;) {
    try {
      const deleted = await deleteExpiredUnreferencedArtifacts(db, now, batchSize);
      if (deleted === 0) {
        break;
      }
      artifactsDeleted += deleted;
    } catch (error) {
      // A relation to one of the batch was added meanwhile: the next batch skips it.
      if (!isForeignKeyViolation(error)) {
        throw error;
      }
      conflicts += 1;
    }
  }
  let filesDeleted = 0;
  let bytesFreed = 0;
  for (;;) {
    const removed = await db.transaction().execute(async (trx) => {
      const candidates = await lockUnusedFiles(trx, batchSize);
      const rows = await deleteUnusedFileRows(
        trx,
        candidates.map((c) => c.sha256),
      );
      // Unlinked while the row locks are held: an upload of the same content
      // waits for this transaction and then stores the content afresh.
      await store.remove(rows.map((row) => row.sha256));
      return { rows, candidates: candidates.length };
    });
    filesDeleted += removed.rows.length;
    bytesFreed += removed.rows.reduce((sum, row) => sum + row.size, 0);
    if (removed.candidates < batchSize) {
      break;
    }
  }
  if (filesDeleted > 0) {
    await store.compact();
  }
  return {
    artifacts_deleted: artifactsDeleted,
    files_deleted: filesDeleted,
    bytes_freed: bytesFreed,
  };
}
