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
            inner.or([
              inner.exists(
                inner
                  .selectFrom('artifact_relations as r')
                  .select('r.target_id')
                  .whereRef('r.target_id', '=', 'a.id'),
              ),
              // A repository's pool keeps the artifacts its packages come from.
              inner.exists(
                inner
                  .selectFrom('apt_pool as p')
                  .select('p.artifact_id')
                  .whereRef('p.artifact_id', '=', 'a.id'),
              ),
            ]),
          ),
        )
        .limit(limit)
        .forUpdate()
        .skipLocked(),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Whether stored content `files.sha256` is in use: declared by an artifact, or
 * part of a repository (an index chunk, a kept publication's file or a part of one).
 */
const fileInUse = sql<boolean>`(
  exists (select 1 from artifact_files af where af.sha256 = files.sha256)
  or exists (select 1 from apt_index_chunks c where c.text_sha256 = files.sha256 or c.gz_sha256 = files.sha256)
  or exists (select 1 from apt_publication_files p where p.sha256 = files.sha256)
  or exists (select 1 from apt_publication_files p where p.parts @> array[files.sha256]::text[]))`;

/** Locks up to `limit` stored files nothing uses, skipping locked ones. */
export function lockUnusedFiles(db: Db, limit: number) {
  return db
    .selectFrom('files')
    .select(['files.sha256', 'files.size'])
    .where(sql<boolean>`not ${fileInUse}`)
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
    .where(sql<boolean>`not ${fileInUse}`)
    .returning(['sha256', 'size'])
    .execute();
}
