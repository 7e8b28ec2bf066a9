import type { TokenScope } from '../../protocol/tokens.schema.ts';
import type { InstanceRole } from '../../protocol/users.schema.ts';

/** Who is making a request, as established by authentication. */
export type Actor = AnonymousActor | UserActor;

export interface AnonymousActor {
  readonly kind: 'anonymous';
}

export interface UserActor {
  readonly kind: 'user';
  readonly userId: number;
  readonly username: string;
  readonly role: InstanceRole;
  readonly tokenId: number;
  readonly scopes: ReadonlySet<TokenScope>;
}

export const anonymous: AnonymousActor = Object.freeze({ kind: 'anonymous' });

/** Whether the actor holds instance-admin powers (admin role and `admin` scope). */
export function isAdmin(actor: Actor): boolean {
  return actor.kind === 'user' && actor.role === 'admin' && actor.scopes.has('admin');
}

/** The user id behind the actor, or `undefined` for anonymous. */
export function actorUserId(actor: Actor): number | undefined {
  return actor.kind === 'user' ? actor.userId : undefined;
}
