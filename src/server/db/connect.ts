import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';
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

/** Opens the database at `location`; it does not migrate it. */
export async function openDatabase(
  location: DatabaseLocation,
  options: { readonly poolSize?: number } = {},
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
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return {
      db,
      kind: 'postgres',
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
      close: () => db.destroy(),
    };
  }
  const pglite =
    location.kind === 'pglite-instance'
      ? location.pglite
      : await PGlite.create({ dataDir: location.dataDir });
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) });
  return {
    db,
    kind: 'pglite',
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
