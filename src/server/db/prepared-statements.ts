import { createHash } from 'node:crypto';
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import type pg from 'pg';

/** Statements named at most: an `in (...)` list makes one text per length. */
const maxNamed = 2000;

/**
 * Wraps a `pg` pool so that each statement Kysely sends runs as a named
 * prepared statement: PostgreSQL parses and plans it once per connection
 * (after five runs it keeps a generic plan, PostgreSQL §PREPARE) instead of
 * at every query. The scheduler's claim took longer to plan than to run.
 *
 * A prepared statement whose result columns changed under it (another replica
 * migrated a table it selects `*` from) fails with `0A000`; it then runs
 * unnamed, now and from then on.
 */
export function createPreparingPool(pool: pg.Pool): PostgresPool {
  const names = new Map<string, string | null>();
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();

  const nameOf = (text: string): string | null => {
    let name = names.get(text);
    if (name === undefined) {
      name = names.size >= maxNamed ? null : statementName(text);
      if (name !== null) {
        names.set(text, name);
      }
    }
    return name;
  };

  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    async function run(text: string, values: readonly unknown[]): Promise<pg.QueryResult> {
      const name = nameOf(text);
      if (name === null) {
        return client.query(text, [...values]);
      }
      try {
        return await client.query({ name, text, values: [...values] });
      } catch (error) {
        if ((error as { code?: string }).code !== '0A000') {
          throw error;
        }
        names.set(text, null);
        return client.query(text, [...values]);
      }
    }
    function query<R>(sql: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>>;
    function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
    function query<R>(
      what: string | PostgresCursor<R>,
      parameters: readonly unknown[] = [],
    ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
      if (typeof what !== 'string') {
        return (client as unknown as { query(c: PostgresCursor<R>): PostgresCursor<R> }).query(
          what,
        );
      }
      return run(what, parameters) as Promise<PostgresQueryResult<R>>;
    }
    return {
      query,
      release: (destroy?: boolean) => {
        client.release(destroy);
      },
    };
  };

  return {
    options: pool.options,
    end: () => pool.end(),
    async connect() {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (wrapper === undefined) {
        wrapper = wrap(client);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
  };
}

function statementName(text: string): string {
  return `kiln_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`;
}
