import { sql } from 'kysely';
import type { Db } from '../db/connect.ts';
import type { TokenRow, UserRow } from '../db/schema.ts';

export function insertSession(
  db: Db,
  session: { idHash: string; tokenId: number; csrf: string; expiresAt: Date },
): Promise<unknown> {
  return db
    .insertInto('web_sessions')
    .values({
      id_hash: session.idHash,
      token_id: session.tokenId,
      csrf: session.csrf,
      expires_at: session.expiresAt,
    })
    .execute();
}

/** A live session: not expired, its token neither revoked nor expired. */
export interface SessionWithUser {
  readonly csrf: string;
  readonly token: Pick<TokenRow, 'id' | 'scopes'>;
  readonly user: Pick<UserRow, 'id' | 'username' | 'role'>;
}

export async function findLiveSession(
  db: Db,
  idHash: string,
): Promise<SessionWithUser | undefined> {
  const row = await db
    .selectFrom('web_sessions as s')
    .innerJoin('tokens as t', 't.id', 's.token_id')
    .innerJoin('users as u', 'u.id', 't.user_id')
    .select(['s.csrf', 't.id as token_id', 't.scopes', 'u.id as user_id', 'u.username', 'u.role'])
    .where('s.id_hash', '=', idHash)
    .where('s.expires_at', '>', sql<Date>`now()`)
    .where('t.revoked_at', 'is', null)
    .where((eb) =>
      eb.or([eb('t.expires_at', 'is', null), eb('t.expires_at', '>', sql<Date>`now()`)]),
    )
    .executeTakeFirst();
  return row === undefined
    ? undefined
    : {
        csrf: row.csrf,
        token: { id: row.token_id, scopes: row.scopes },
        user: { id: row.user_id, username: row.username, role: row.role },
      };
}

/** Deletes a session and returns the token it stood on. */
export async function deleteSession(db: Db, idHash: string): Promise<number | undefined> {
  const row = await db
    .deleteFrom('web_sessions')
    .where('id_hash', '=', idHash)
    .returning('token_id')
    .executeTakeFirst();
  return row?.token_id;
}

export async function deleteExpiredSessions(db: Db): Promise<void> {
  await db
    .deleteFrom('web_sessions')
    .where('expires_at', '<=', sql<Date>`now()`)
    .execute();
}
