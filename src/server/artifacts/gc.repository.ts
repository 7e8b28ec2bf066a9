import { sql } from 'kysely';
import type { Db } from '../db/connect.ts';

/**
 * Deletes up to `limit` artifacts expired at `now` that no artifact refers to,
 * and returns how many it deleted.
 */
export async function deleteExpiredUnreferencedArtifacts(
  db: Db,
  now: Date,
  limit: number,
): Promise<number> {
  const result = await db
    .deleteFrom('artifacts')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('artifacts as a')
        .select('a.id')
        .where('a.expires_at', '<=', now)
        .where((inner) =>
          inner.not(
            inner.exists(
              inner
                .selectFrom('artifact_relations as r')
                .select('r.target_id')
                .whereRef('r.target_id', '=', 'a.id'),
            ),
          ),
        )
        .limit(limit)
        .forUpdate()
        .skipLocked(),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Locks up to `limit` stored files that no artifact declares, skipping locked ones. */
export function lockUnusedFiles(db: Db, limit: number) {
  return db
    .selectFrom('files as f')
    .select(['f.sha256', 'f.size'])
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('artifact_files as af')
            .select('af.sha256')
            .whereRef('af.sha256', '=', 'f.sha256'),
        ),
      ),
    )
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
}

/**
 * Deletes the rows of `sha256s` that are still unused. Run after `lockUnusedFiles`
 * in the same transaction: this statement's fresh snapshot sees declarations
 * committed while the locks were taken.
 */
export async function deleteUnusedFileRows(
  db: Db,
  sha256s: readonly string[],
): Promise<{ sha256: string; size: number }[]> {
  if (sha256s.length === 0) {
    return [];
  }
  return db
    .deleteFrom('files')
    .where('sha256', 'in', [...sha256s])
    .where(
      sql<boolean>`not exists (select 1 from artifact_files af where af.sha256 = files.sha256)`,
    )
    .returning(['sha256', 'size'])
    .execute();
}
