import { Type, type Static } from 'typebox';
import { Timestamp } from './common.schema.ts';

/**
 * Scopes of a personal token. `read` allows GET; `write` allows changes in the
 * workspaces the user may change; `admin` allows instance administration when the
 * user is an admin. A token never grants more than its user has.
 */
export const tokenScopes = ['read', 'write', 'admin'] as const;
export type TokenScope = (typeof tokenScopes)[number];

export const Scope = Type.Enum(tokenScopes);

export const Token = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  kind: Type.String(),
  scopes: Type.Array(Scope),
  created_at: Timestamp,
  expires_at: Type.Union([Timestamp, Type.Null()]),
  last_used_at: Type.Union([Timestamp, Type.Null()]),
  revoked: Type.Boolean(),
});
export type Token = Static<typeof Token>;

/** A token as created: the secret is shown this once and never again. */
export const CreatedToken = Type.Intersect([Token, Type.Object({ token: Type.String() })]);
export type CreatedToken = Static<typeof CreatedToken>;

export const CreateTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    scopes: Type.Optional(Type.Array(Scope, { minItems: 1, uniqueItems: true })),
    /** Lifetime in seconds; absent means no expiry. */
    expires_in: Type.Optional(Type.Integer({ minimum: 60, maximum: 10 * 365 * 86400 })),
  },
  { additionalProperties: false },
);
export type CreateTokenBody = Static<typeof CreateTokenBody>;
