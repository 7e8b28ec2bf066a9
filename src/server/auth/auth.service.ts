import { sql } from 'kysely';
import { KilnError } from '../../protocol/errors.ts';
import type { CreatedToken, Token, TokenScope } from '../../protocol/tokens.schema.ts';
import type { InstanceRole, User } from '../../protocol/users.schema.ts';
import type { Db } from '../db/connect.ts';
import type { TokenRow, UserRow } from '../db/schema.ts';
import { isAdmin, type Actor, type UserActor } from './actor.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { generateTokenSecret, hashTokenSecret } from './secrets.ts';
import { findTokenById, insertToken, listTokensOfUser, revokeToken } from './token.repository.ts';
import {
  countAdmins,
  countUsers,
  deleteUser,
  findUserByName,
  insertUser,
  listUsers,
  updateUser,
} from './user.repository.ts';

/** The scopes a user of `role` may hold. */
export function scopesForRole(role: InstanceRole): readonly TokenScope[] {
  return role === 'admin' ? ['read', 'write', 'admin'] : ['read', 'write'];
}

export function toUser(row: UserRow): User {
  return {
    username: row.username,
    role: row.role,
    has_password: row.password_hash !== null,
    created_at: row.created_at.toISOString(),
  };
}

export function toToken(row: TokenRow): Token {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    scopes: row.scopes as TokenScope[],
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at?.toISOString() ?? null,
    last_used_at: row.last_used_at?.toISOString() ?? null,
    revoked: row.revoked_at !== null,
  };
}

/**
 * Requires an authenticated user; anonymous callers get `unauthenticated`, and
 * a worker's, enrolment or task token (valid, but no user's) gets `forbidden`.
 */
export function requireUser(actor: Actor): UserActor {
  if (actor.kind === 'anonymous') {
    throw new KilnError('unauthenticated', 'this needs a token: log in first');
  }
  if (actor.kind !== 'user') {
    throw new KilnError('forbidden', `a ${actor.kind} token cannot do this`);
  }
  return actor;
}

/**
 * Requires a token with the `write` scope: a `read` token only reads. Tokens and
 * passwords need it too, or a read-only token could mint tokens that outlive its
 * revocation, or set the password and log in with every scope.
 */
export function requireWriteScope(actor: Actor): UserActor {
  const user = requireUser(actor);
  if (!user.scopes.has('write')) {
    throw new KilnError('insufficient_scope', 'this needs a token with the write scope');
  }
  return user;
}

/** Requires instance-admin powers. */
export function requireAdmin(actor: Actor): UserActor {
  const user = requireUser(actor);
  if (!isAdmin(actor)) {
    throw new KilnError(
      user.role === 'admin' ? 'insufficient_scope' : 'forbidden',
      user.role === 'admin' ? 'this needs a token with the admin scope' : 'only admins may do this',
    );
  }
  return user;
}

/** Issues a personal token for `user`; the secret is returned this once. */
export async function issuePersonalToken(
  db: Db,
  userId: number,
  options: { name: string; scopes: readonly TokenScope[]; expiresIn?: number | undefined },
): Promise<CreatedToken> {
  const secret = generateTokenSecret('personal');
  const row = await insertToken(db, {
    hash: hashTokenSecret(secret),
    kind: 'personal',
    user_id: userId,
    name: options.name,
    scopes: [...options.scopes],
    expires_at:
      options.expiresIn === undefined ? null : new Date(Date.now() + options.expiresIn * 1000),
  });
  return { ...toToken(row), token: secret };
}

/** Exchanges a username and password for a new personal token. */
export async function logIn(
  db: Db,
  credentials: {
    username: string;
    password: string;
    tokenName?: string | undefined;
    /** Seconds the token lives (default: until revoked). */
    expiresIn?: number | undefined;
  },
): Promise<{ user: User; token: CreatedToken }> {
  const user = await findUserByName(db, credentials.username);
  const ok =
    user?.password_hash != null && (await verifyPassword(credentials.password, user.password_hash));
  if (!ok) {
    throw new KilnError('invalid_credentials', 'wrong username or password');
  }
  const token = await issuePersonalToken(db, user.id, {
    name: credentials.tokenName ?? 'login',
    scopes: scopesForRole(user.role),
    expiresIn: credentials.expiresIn,
  });
  return { user: toUser(user), token };
}

export async function createToken(
  db: Db,
  actor: Actor,
  request: {
    name: string;
    scopes?: readonly TokenScope[] | undefined;
    expiresIn?: number | undefined;
  },
): Promise<CreatedToken> {
  const user = requireWriteScope(actor);
  const scopes = request.scopes ?? (['read', 'write'] as const).filter((s) => user.scopes.has(s));
  const beyond = scopes.filter((s) => !user.scopes.has(s) || !scopesForRole(user.role).includes(s));
  if (beyond.length > 0) {
    throw new KilnError('insufficient_scope', `this token cannot grant ${beyond.join(', ')}`);
  }
  return issuePersonalToken(db, user.userId, {
    name: request.name,
    scopes,
    expiresIn: request.expiresIn,
  });
}

export async function listOwnTokens(db: Db, actor: Actor): Promise<Token[]> {
  const user = requireUser(actor);
  return (await listTokensOfUser(db, user.userId)).map(toToken);
}

/** Revokes one of the actor's tokens (admins may revoke anyone's). */
export async function revokeOwnToken(db: Db, actor: Actor, id: number): Promise<void> {
  const user = requireUser(actor);
  const token = await findTokenById(db, id);
  if (token === undefined || (token.user_id !== user.userId && !isAdmin(actor))) {
    throw new KilnError('not_found', `token ${id} not found`);
  }
  await revokeToken(db, id);
}

export async function createUser(
  db: Db,
  actor: Actor,
  request: { username: string; role?: InstanceRole | undefined; password?: string | undefined },
): Promise<User> {
  requireAdmin(actor);
  const passwordHash = request.password === undefined ? null : await hashPassword(request.password);
  const row = await insertUser(db, {
    username: request.username,
    role: request.role ?? 'developer',
    passwordHash,
  });
  if (row === undefined) {
    throw new KilnError('already_exists', `user ${request.username} already exists`);
  }
  return toUser(row);
}

export async function listAllUsers(db: Db, actor: Actor): Promise<User[]> {
  requireAdmin(actor);
  return (await listUsers(db)).map(toUser);
}

export async function changeUser(
  db: Db,
  actor: Actor,
  username: string,
  request: { role?: InstanceRole | undefined; password?: string | undefined },
): Promise<User> {
  requireAdmin(actor);
  return db.transaction().execute(async (trx) => {
    const user = await findUserByName(trx, username);
    if (user === undefined) {
      throw new KilnError('not_found', `user ${username} not found`);
    }
    await lockAdmins(trx);
    if (user.role === 'admin' && request.role !== undefined && request.role !== 'admin') {
      await refuseLastAdmin(trx, username);
    }
    const updated = await updateUser(trx, user.id, {
      ...(request.role === undefined ? {} : { role: request.role }),
      ...(request.password === undefined
        ? {}
        : { passwordHash: await hashPassword(request.password) }),
    });
    return toUser(updated ?? user);
  });
}

export async function removeUser(db: Db, actor: Actor, username: string): Promise<void> {
  requireAdmin(actor);
  await db.transaction().execute(async (trx) => {
    const user = await findUserByName(trx, username);
    if (user === undefined) {
      throw new KilnError('not_found', `user ${username} not found`);
    }
    await lockAdmins(trx);
    if (user.role === 'admin') {
      await refuseLastAdmin(trx, username);
    }
    await deleteUser(trx, user.id);
  });
}

export async function changeOwnPassword(db: Db, actor: Actor, password: string): Promise<void> {
  const user = requireWriteScope(actor);
  await updateUser(db, user.userId, { passwordHash: await hashPassword(password) });
}

// Serialises changes that could remove the last admin.
async function lockAdmins(db: Db): Promise<void> {
  await sql`select pg_advisory_xact_lock(${0x61646d6e})`.execute(db);
}

async function refuseLastAdmin(db: Db, username: string): Promise<void> {
  if ((await countAdmins(db)) <= 1) {
    throw new KilnError('conflict', `${username} is the last admin`);
  }
}

/**
 * On the first start of an empty instance, creates the `admin` user and a token
 * for it, and returns the token's secret. Later starts return `undefined`.
 */
export async function bootstrapAdmin(db: Db): Promise<string | undefined> {
  return db.transaction().execute(async (trx) => {
    await lockAdmins(trx);
    if ((await countUsers(trx)) > 0) {
      return undefined;
    }
    const user = await insertUser(trx, { username: 'admin', role: 'admin', passwordHash: null });
    if (user === undefined) {
      return undefined;
    }
    const token = await issuePersonalToken(trx, user.id, {
      name: 'first start',
      scopes: scopesForRole('admin'),
    });
    return token.token;
  });
}
