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
 * Resolves a token to the actor it stands for. A missing token is the
 * anonymous actor; an unknown, revoked or expired one is refused, never
 * silently downgraded to anonymous. A task token is valid only while its
 * attempt is the task's current, running one.
 */
export async function authenticateToken(db: Db, secret: string | undefined): Promise<Actor> {
  if (secret === undefined) {
    return anonymous;
  }
  const found = await findTokenByHash(db, hashTokenSecret(secret));
  if (found === undefined) {
    throw new KilnError('unauthenticated', 'the token is not valid');
  }
  const { token, user } = found;
  if (token.revoked_at !== null) {
    // A task token is revoked when its attempt ends: say so, the worker branches on it.
    throw token.kind === 'task'
      ? new KilnError(
          'stale_attempt',
          `attempt ${token.task_attempt ?? 0} of task ${token.task_id ?? 0} is over`,
        )
      : new KilnError('unauthenticated', 'the token was revoked');
  }
  if (token.expires_at !== null && token.expires_at.getTime() <= Date.now()) {
    throw new KilnError('token_expired', `the token expired at ${token.expires_at.toISOString()}`);
  }
  switch (token.kind) {
    case 'personal': {
      if (user === undefined) {
        throw new KilnError('unauthenticated', 'the token is not valid');
      }
      await touchTokenIfStale(db, token);
      return {
        kind: 'user',
        userId: user.id,
        username: user.username,
        role: user.role,
        tokenId: token.id,
        scopes: new Set(token.scopes.filter((s): s is TokenScope => isScope(s))),
      };
    }
    case 'enrolment':
      await touchTokenIfStale(db, token);
      return { kind: 'enrolment', tokenId: token.id };
    case 'worker': {
      if (token.worker_id === null || found.workerName === null) {
        throw new KilnError('unauthenticated', 'the token is not valid');
      }
      return {
        kind: 'worker',
        workerId: token.worker_id,
        workerName: found.workerName,
        tokenId: token.id,
      };
    }
    case 'task': {
      const task = found.task;
      if (task === undefined || token.task_attempt === null) {
        throw new KilnError('unauthenticated', 'the token is not valid');
      }
      if (task.state !== 'running' || task.attempt !== token.task_attempt) {
        throw new KilnError(
          'stale_attempt',
          `attempt ${token.task_attempt} of task ${task.id} is over (the task is ${task.state}, attempt ${task.attempt})`,
        );
      }
      return {
        kind: 'task',
        taskId: task.id,
        attempt: task.attempt,
        workspaceId: task.workspace_id,
        submittedBy: task.created_by,
        tokenId: token.id,
      };
    }
  }
}

/**
 * Records the use of a token at most once a minute: the row just read says
 * when it was last recorded, so most requests write nothing and send nothing.
 */
async function touchTokenIfStale(
  db: Db,
  token: { readonly id: number; readonly last_used_at: Date | null },
): Promise<void> {
  if (token.last_used_at === null || Date.now() - token.last_used_at.getTime() >= touchEveryMs) {
    await touchToken(db, token.id);
  }
}

const touchEveryMs = 60_000;

function isScope(value: string): value is TokenScope {
  return (tokenScopes as readonly string[]).includes(value);
}
