import { randomBytes, timingSafeEqual } from 'node:crypto';
import { KilnError } from '../../protocol/errors.ts';
import type { TokenScope } from '../../protocol/tokens.schema.ts';
import type { UserActor } from '../auth/actor.ts';
import { logIn } from '../auth/auth.service.ts';
import { hashTokenSecret } from '../auth/secrets.ts';
import { revokeToken } from '../auth/token.repository.ts';
import type { Db } from '../db/connect.ts';
import { deleteSession, findLiveSession, insertSession } from './session.repository.ts';

export const sessionCookie = 'kiln_session';
/** The double-submit cookie of the login form, which has no session yet. */
export const loginCsrfCookie = 'kiln_login_csrf';
/** Seconds a session (and the token it stands on) lasts. */
export const sessionSeconds = 7 * 86400;

/** A logged-in browser: who it is, and the CSRF token its forms carry. */
export interface WebSession {
  readonly actor: UserActor;
  readonly csrf: string;
}

export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The cookies of a `Cookie` header (RFC 6265 §5.4), first value of each name. */
export function parseCookies(header: string | undefined): ReadonlyMap<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    const name = part.slice(0, eq).trim();
    if (eq > 0 && !cookies.has(name)) {
      cookies.set(name, part.slice(eq + 1).trim());
    }
  }
  return cookies;
}

/** A `Set-Cookie` value: HttpOnly, SameSite=Lax, Secure when served over HTTPS. */
export function serializeCookie(
  name: string,
  value: string,
  options: { maxAge: number; secure: boolean },
): string {
  return `${name}=${value}; Path=/; Max-Age=${options.maxAge}; HttpOnly; SameSite=Lax${options.secure ? '; Secure' : ''}`;
}

/**
 * Logs a user in with a password: a personal token named "web session" that
 * lasts as long as the session, and a session row holding its hashed id.
 * Returns the cookie value.
 */
export async function startSession(
  db: Db,
  credentials: { username: string; password: string },
): Promise<string> {
  const { token } = await logIn(db, {
    ...credentials,
    tokenName: 'web session',
    expiresIn: sessionSeconds,
  });
  const id = randomSecret();
  await insertSession(db, {
    idHash: hashTokenSecret(id),
    tokenId: token.id,
    csrf: randomSecret(),
    expiresAt: new Date(Date.now() + sessionSeconds * 1000),
  });
  return id;
}

/** The session a cookie value stands for, if it is live. */
export async function resolveSession(
  db: Db,
  id: string | undefined,
): Promise<WebSession | undefined> {
  if (id === undefined || id === '') {
    return undefined;
  }
  const found = await findLiveSession(db, hashTokenSecret(id));
  if (found === undefined) {
    return undefined;
  }
  return {
    csrf: found.csrf,
    actor: {
      kind: 'user',
      userId: found.user.id,
      username: found.user.username,
      role: found.user.role,
      tokenId: found.token.id,
      scopes: new Set(found.token.scopes as TokenScope[]),
    },
  };
}

/** Logs out: the session goes, and its token is revoked. */
export async function endSession(db: Db, id: string | undefined): Promise<void> {
  if (id !== undefined && id !== '') {
    const tokenId = await deleteSession(db, hashTokenSecret(id));
    if (tokenId !== undefined) {
      await revokeToken(db, tokenId);
    }
  }
}

/** Refuses a form whose CSRF field does not match, in constant time. */
export function checkCsrf(expected: string | undefined, given: unknown): void {
  const a = Buffer.from(expected ?? '');
  const b = Buffer.from(typeof given === 'string' ? given : '');
  if (a.length === 0 || a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new KilnError(
      'forbidden',
      'the form is stale or did not come from this site: reload the page',
    );
  }
}
