import { KilnError } from '../../../protocol/errors.ts';
import type { Db } from '../../db/connect.ts';
import { lockRepository } from './publisher.ts';

/**
 * Makes an earlier publication current again: clients get exactly the files
 * they got then. The repository's contents stay as they are: the next change
 * publishes from them.
 */
export async function rollbackRepository(
  db: Db,
  repositoryId: number,
  number: number,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await lockRepository(trx, repositoryId);
    const publication = await trx
      .selectFrom('apt_publications')
      .select('id')
      .where('repository_id', '=', repositoryId)
      .where('number', '=', number)
      .executeTakeFirst();
    if (publication === undefined) {
      throw new KilnError('not_found', `publication ${number} not found (it may have expired)`);
    }
    await trx
      .updateTable('apt_repositories')
      .set({ current_publication_id: publication.id })
      .where('id', '=', repositoryId)
      .execute();
  });
}
