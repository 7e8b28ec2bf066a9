import { Type } from 'typebox';

/** Names of workspaces and users: lower-case, URL-safe, 1 to 64 characters. */
export const Name = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' });

/** A sha256 digest in lower-case hex. */
export const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });

/** A point in time, RFC 3339. */
export const Timestamp = Type.String({ format: 'date-time' });

/**
 * Ids and offsets stop at 2^53 - 1: beyond that a JSON number is not exact, and
 * PostgreSQL's bigint would overflow (an error, not "not found").
 */
const maxInteger = Number.MAX_SAFE_INTEGER;

export const Id = Type.Integer({ minimum: 1, maximum: maxInteger });

export const IdParams = Type.Object({ id: Id });

export const Offset = Type.Integer({ minimum: 0, maximum: maxInteger, default: 0 });

/** A list response: `items` in order, and the total count before paging. */
export const Page = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Object({ items: Type.Array(item), total: Type.Integer() });

export const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  offset: Type.Optional(Offset),
});

export const ErrorResponse = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});
