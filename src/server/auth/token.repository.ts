import { sql } from 'kysely';
import { batchedPerDatabase } from '../db/batcher.ts';
import type { Db } from '../db/connect.ts';
import type { NewToken, TokenRow, UserRow } from '../db/schema.ts';

export function insertToken(db: Db, token: NewToken): Promise<TokenRow> {
  return db.insertInto('tokens').values(token).returningAll().executeTakeFirstOrThrow();
}

/** The lease facts a task token is checked against. */
export interface TokenTask {
  readonly id: number;
  readonly state: string;
  readonly attempt: number;
  readonly workspace_id: number;
  readonly created_by: number | null;
}

/**
 * A token found by its hash (revoked ones too: the caller decides), with its
 * user, its worker's name, and for a task token its task, read in the same
 * query (a worker's every report is authenticated so).
 */
export interface TokenWithUser {
  readonly token: TokenRow;
  readonly user: UserRow | undefined;
  readonly workerName: string | null;
  readonly task: TokenTask | undefined;
}

/** Lookups of tokens by hash, batched per database (each request authenticates so). */
const lookUp = batchedPerDatabase(findTokensByHash, { maxBatch: 200, concurrency: 2 });

export function findTokenByHash(db: Db, hash: string): Promise<TokenWithUser | undefined> {
  return lookUp(db, hash);
}

/** The tokens of `hashes`, in their order (`undefined` for an unknown one). */
async function findTokensByHash(
  db: Db,
  hashes: readonly string[],
): Promise<(TokenWithUser | undefined)[]> {
  const rows = await db
    .selectFrom('tokens')
    .leftJoin('users', 'users.id', 'tokens.user_id')
    .leftJoin('workers', 'workers.id', 'tokens.worker_id')
    .leftJoin('tasks', 'tasks.id', 'tokens.task_id')
    .selectAll('tokens')
    .select([
      'users.username',
      'users.role',
      'users.password_hash',
      'users.created_at as user_created_at',
      'workers.name as worker_name',
      'tasks.state as task_state',
      'tasks.attempt as task_current_attempt',
      'tasks.workspace_id as task_workspace_id',
      'tasks.created_by as task_created_by',
    ])
    .where('tokens.hash', '=', sql<string>`any(${[...hashes]}::text[])`)
    .execute();
  const byHash = new Map(rows.map((row) => [row.hash, toTokenWithUser(row)]));
  return hashes.map((hash) => byHash.get(hash));
}

type TokenJoinRow = TokenRow & {
  readonly username: string | null;
  readonly role: UserRow['role'] | null;
  readonly password_hash: string | null;
  readonly user_created_at: Date | null;
  readonly worker_name: string | null;
  readonly task_state: string | null;
  readonly task_current_attempt: number | null;
  readonly task_workspace_id: number | null;
  readonly task_created_by: number | null;
};

function toTokenWithUser(row: TokenJoinRow): TokenWithUser {
  const {
    username,
    role,
    password_hash,
    user_created_at,
    worker_name,
    task_state,
    task_current_attempt,
    task_workspace_id,
    task_created_by,
    ...token
  } = row;
  const user =
    token.user_id === null || username === null || role === null || user_created_at === null
      ? undefined
      : { id: token.user_id, username, role, password_hash, created_at: user_created_at };
  const task =
    token.task_id === null ||
    task_state === null ||
    task_current_attempt === null ||
    task_workspace_id === null
      ? undefined
      : {
          id: token.task_id,
          state: task_state,
          attempt: task_current_attempt,
          workspace_id: task_workspace_id,
          created_by: task_created_by,
        };
  return { token, user, workerName: worker_name, task };
}

export function listTokensOfUser(db: Db, userId: number): Promise<TokenRow[]> {
  return db
    .selectFrom('tokens')
    .selectAll()
    .where('user_id', '=', userId)
    .where('kind', '=', 'personal')
    .orderBy('id')
    .execute();
}

export function findTokenById(db: Db, id: number): Promise<TokenRow | undefined> {
  return db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function revokeToken(db: Db, id: number): Promise<void> {
  await db
    .updateTable('tokens')
    .set({ revoked_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Records use of a token, at most once a minute so requests do not all write. */
export async function touchToken(db: Db, id: number): Promise<void> {
  await db
    .updateTable('tokens')
    .set({ last_used_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where((eb) =>
      eb.or([
        eb('last_used_at', 'is', null),
        eb('last_used_at', '<', sql<Date>`now() - interval '1 minute'`),
      ]),
    )
    .execute();
}
