import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { openDatabase, quoteIdentifier, type OpenDatabase } from '../../src/server/db/connect.ts';
import { urlWithSchema, type TestBackend } from './databases.ts';

/** An empty schema of its own in the PostgreSQL test database: not migrated. */
export interface FreshSchema {
  readonly schema: string;
  /** The database URL with `search_path` set to the schema, for another process. */
  readonly url: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

async function execute(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

export async function createFreshSchema(url: string): Promise<FreshSchema> {
  const schema = `kiln_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await execute(url, `create schema ${quoteIdentifier(schema)}`);
  return {
    schema,
    url: urlWithSchema(url, schema),
    drop: () => execute(url, `drop schema if exists ${quoteIdentifier(schema)} cascade`),
  };
}

/**
 * Opens an empty, unmigrated database on `backend`: an in-memory PGlite, or a
 * fresh schema on PostgreSQL. `close` also drops the schema.
 */
export async function openEmptyDatabase(
  backend: TestBackend,
  options: { readonly poolSize?: number } = {},
): Promise<OpenDatabase> {
  if (backend.name === 'pglite') {
    const pglite = await PGlite.create({ dataDir: 'memory://' });
    return openDatabase({ kind: 'pglite-instance', pglite });
  }
  const fresh = await createFreshSchema(backend.url ?? '');
  const database = await openDatabase(
    { kind: 'postgres', url: backend.url ?? '', schema: fresh.schema },
    options,
  );
  return {
    ...database,
    async close() {
      await database.close();
      await fresh.drop();
    },
  };
}
