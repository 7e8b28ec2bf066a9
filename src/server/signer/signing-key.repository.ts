import { sql } from 'kysely';
import type { Db } from '../db/connect.ts';
import type { SigningKeyRow } from '../db/schema.ts';

/** A key's row without its private part: what may leave the signer. */
export type PublicKeyRow = Omit<SigningKeyRow, 'private_key'>;

const publicColumns = [
  'id',
  'fingerprint',
  'algorithm',
  'user_id',
  'public_key',
  'created_at',
  'retired_at',
] as const;

export function insertSigningKey(
  db: Db,
  key: Omit<SigningKeyRow, 'id' | 'retired_at'>,
): Promise<PublicKeyRow> {
  return db
    .insertInto('signing_keys')
    .values(key)
    .returning(publicColumns)
    .executeTakeFirstOrThrow();
}

/** The keys with these ids that exist, in no particular order. */
export function listPublicKeys(db: Db, ids: readonly number[]): Promise<PublicKeyRow[]> {
  return db.selectFrom('signing_keys').select(publicColumns).where('id', 'in', ids).execute();
}

/** The protected private keys with these ids that exist (null for retired keys). */
export function listPrivateKeys(
  db: Db,
  ids: readonly number[],
): Promise<Pick<SigningKeyRow, 'id' | 'fingerprint' | 'private_key'>[]> {
  return db
    .selectFrom('signing_keys')
    .select(['id', 'fingerprint', 'private_key'])
    .where('id', 'in', ids)
    .execute();
}

/** Retires a key and erases its private part; returns the row, retired or not, if it exists. */
export async function retireSigningKey(db: Db, id: number): Promise<PublicKeyRow | undefined> {
  const retired = await db
    .updateTable('signing_keys')
    .set({ retired_at: sql<Date>`now()`, private_key: null })
    .where('id', '=', id)
    .where('retired_at', 'is', null)
    .returning(publicColumns)
    .executeTakeFirst();
  return (
    retired ??
    db.selectFrom('signing_keys').select(publicColumns).where('id', '=', id).executeTakeFirst()
  );
}
