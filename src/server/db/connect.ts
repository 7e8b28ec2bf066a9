import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';
import { startPgliteProcess } from './pglite-process.ts';
import { createPreparingPool } from './prepared-statements.ts';
import type { Database } from './schema.ts';

/** kiln's handle on its database: PostgreSQL or PGlite, through one Kysely type. */
export type Db = Kysely<Database>;

/** Where the database is: a PostgreSQL URL, or a PGlite data directory. */
export type DatabaseLocation =
  | { readonly kind: 'postgres'; readonly url: string; readonly schema?: string | undefined }
  | { readonly kind: 'pglite'; readonly dataDir: string }
  | { readonly kind: 'pglite-instance'; readonly pglite: PGlite };

/**
 * One connection for SQL scripts of several statements (migrations), which
 * Kysely's prepared statements cannot carry.
 */
export interface ScriptSession {
  query(text: string, params?: readonly unknown[]): Promise<readonly Record<string, unknown>[]>;
  exec(script: string): Promise<void>;
}

export interface OpenDatabase {
  readonly db: Db;
  readonly kind: 'postgres' | 'pglite';
  /** The database's own process, when kiln started one (PGlite from a data directory). */
  readonly processId?: number;
  /**
   * Subscribes to a `NOTIFY` channel; returns the unsubscribe function. On
   * PostgreSQL one dedicated connection listens, and reconnects if it drops.
   */
  listen(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>>;
  /** Runs `fn` on one dedicated connection. */
  withScriptSession<T>(fn: (session: ScriptSession) => Promise<T>): Promise<T>;
  /** Closes every connection; the handle is unusable afterwards. */
  close(): Promise<void>;
}

/** int8 as a JS number: kiln's ids, counts and byte sizes stay below 2^53. */
function int8AsNumber(): pg.TypeOverrides {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, Number);
  return types;
}

/**
 * Opens the database at `location`; it does not migrate it. A PGlite data
 * directory is opened in a child process (see pglite-process.ts), whose
 * unexpected end is reported to `onExit`; a PGlite instance is used in this
 * process.
 */
export async function openDatabase(
  location: DatabaseLocation,
  options: { readonly poolSize?: number; readonly onExit?: (error: Error) => void } = {},
): Promise<OpenDatabase> {
  if (location.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: location.url,
      max: options.poolSize ?? 20,
      types: int8AsNumber(),
      ...(location.schema === undefined
        ? {}
        : { options: `-c search_path=${quoteIdentifier(location.schema)}` }),
    });
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: createPreparingPool(pool) }),
    });
    const listener = createPgListener(location.url);
    return {
      db,
      kind: 'postgres',
      listen: (channel, handler) => listener.listen(channel, handler),
      withScriptSession: async (fn) => {
        const client = await pool.connect();
        try {
          return await fn({
            query: async (text, params) =>
              (await client.query<Record<string, unknown>>(text, params as unknown[])).rows,
            exec: async (script) => {
              await client.query(script);
            },
          });
        } finally {
          client.release();
        }
      },
      close: async () => {
        await listener.close();
        await db.destroy();
      },
    };
  }
  const pglite =
    location.kind === 'pglite-instance'
      ? location.pglite
      : await startPgliteProcess(location.dataDir, {
          ...(options.onExit === undefined ? {} : { onExit: options.onExit }),
        });
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) });
  return {
    db,
    kind: 'pglite',
    ...('pid' in pglite ? { processId: pglite.pid } : {}),
    listen: async (channel, handler) => pglite.listen(channel, handler),
    withScriptSession: (fn) =>
      fn({
        query: async (text, params) =>
          (await pglite.query<Record<string, unknown>>(text, params as unknown[])).rows,
        exec: async (script) => {
          await pglite.exec(script);
        },
      }),
    close: async () => {
      await db.destroy();
      if (!pglite.closed) {
        await pglite.close();
      }
    },
  };
}

/** Quotes an SQL identifier (PostgreSQL §4.1.1). */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * LISTEN on PostgreSQL through one dedicated client, connected on first use and
 * reconnected (with every channel re-subscribed) when it drops.
 */
function createPgListener(url: string) {
  const handlers = new Map<string, Set<(payload: string) => void>>();
  let client: Promise<pg.Client> | undefined;
  let closed = false;

  const connect = (): Promise<pg.Client> => {
    client ??= (async () => {
      const c = new pg.Client({ connectionString: url });
      c.on('notification', (message) => {
        for (const handler of handlers.get(message.channel) ?? []) {
          handler(message.payload ?? '');
        }
      });
      c.on('error', () => {
        client = undefined;
        if (!closed) {
          setTimeout(() => {
            if (!closed && handlers.size > 0) {
              void connect().catch(() => undefined);
            }
          }, 1000).unref();
        }
      });
      await c.connect();
      for (const channel of handlers.keys()) {
        await c.query(`listen ${quoteIdentifier(channel)}`);
      }
      return c;
    })();
    client.catch(() => {
      client = undefined;
    });
    return client;
  };

  return {
    async listen(channel: string, handler: (payload: string) => void) {
      const set = handlers.get(channel) ?? new Set();
      const first = set.size === 0;
      set.add(handler);
      handlers.set(channel, set);
      const c = await connect();
      if (first) {
        await c.query(`listen ${quoteIdentifier(channel)}`);
      }
      return async () => {
        set.delete(handler);
        if (set.size === 0) {
          handlers.delete(channel);
          if (client !== undefined) {
            await (
              await client
            )
              .query(`unlisten ${quoteIdentifier(channel)}`)
              .catch(() => undefined);
          }
        }
      };
    },
    async close() {
      closed = true;
      const c = client;
      client = undefined;
      if (c !== undefined) {
        await (await c).end().catch(() => undefined);
      }
    },
  };
}
