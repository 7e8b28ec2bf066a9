import { KilnError } from '../../protocol/errors.ts';
import { tokenScopes, type TokenScope } from '../../protocol/tokens.schema.ts';
import type { Db } from '../db/connect.ts';
import { anonymous, type Actor } from './actor.ts';
import { hashTokenSecret } from './secrets.ts';
import { findTokenByHash, touchToken } from './token.repository.ts';

/**
 * The token in an `Authorization` header: `Bearer <token>`, or HTTP basic auth
 * with the token as password (RFC 7617), which is how apt's `auth.conf` sends it.
 */
export function readTokenFromHeader(header: string | undefined): string | undefined {
  if (header === undefined) {
    return undefined;
  }
  const [scheme, value] = header.split(/\s+/, 2);
  if (scheme?.toLowerCase() === 'bearer' && value) {
    return value;
  }
  if (scheme?.toLowerCase() === 'basic' && value) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? undefined : decoded.slice(colon + 1);
  }
  throw new KilnError('unauthenticated', 'the Authorization header is neither Bearer nor Basic');
}

/**
 * Resolves a personal token to the actor it stands for. A missing token is the
 * anonymous actor; an unknown, revoked or expired one is refused, never
 * silently downgraded to anonymous.
 */
export async function authenticateToken(db: Db, secret: string | undefined): Promise<Actor> {
  if (secret === undefined) {
    return anonymous;
  }
  const found = await findTokenByHash(db, hashTokenSecret(secret));
  if (found?.token.kind !== 'personal' || found.user === undefined) {
    throw new KilnError('unauthenticated', 'the token is not valid');
  }
  const { token, user } = found;
  if (token.expires_at !== null && token.expires_at.getTime() <= Date.now()) {
    throw new KilnError('token_expired', `the token expired at ${token.expires_at.toISOString()}`);
  }
  await touchToken(db, token.id);
  return {
    kind: 'user',
    userId: user.id,
    username: user.username,
    role: user.role,
    tokenId: token.id,
    scopes: new Set(token.scopes.filter((s): s is TokenScope => isScope(s))),
  };
}

function isScope(value: string): value is TokenScope {
  return (tokenScopes as readonly string[]).includes(value);
}
