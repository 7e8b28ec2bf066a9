import { KilnError } from '../../protocol/errors.ts';
import type { Actor } from '../auth/actor.ts';
import type { Db } from '../db/connect.ts';
import type { FileStore } from '../files/file-store.ts';
import { authorizeArtifact, immutable } from './artifact-access.ts';
import { lockArtifact } from './artifact.repository.ts';

/** What the artifact operations need from the composition root. */
export interface ArtifactDeps {
  readonly db: Db;
  readonly store: FileStore;
  readonly maxFileSize: number;
}

/**
 * Runs `change` on an artifact the actor may change, in a transaction holding
 * the artifact's row lock, so that no change slips past a concurrent "make
 * immutable" or delete.
 */
export async function changeArtifact<T>(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  change: (db: Db) => Promise<T>,
): Promise<T> {
  await authorizeArtifact(deps.db, actor, id, 'change');
  return deps.db.transaction().execute(async (trx) => {
    const locked = await lockArtifact(trx, id);
    if (locked === undefined) {
      throw new KilnError('not_found', `artifact ${id} not found`);
    }
    if (locked.immutable) {
      throw immutable(id);
    }
    return change(trx);
  });
}
