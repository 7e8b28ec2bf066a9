import { randomBytes } from 'node:crypto';
import { after, describe } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { openDatabase, quoteIdentifier, type OpenDatabase } from '../../src/server/db/connect.ts';
import { migrateDatabase } from '../../src/server/db/migrate.ts';

/** A database server the suite runs against; `open` gives a fresh, migrated database. */
export interface TestBackend {
  readonly name: 'pglite' | 'postgres';
  open(): Promise<OpenDatabase>;
  /** A URL for a second process to reach the same database (PostgreSQL only). */
  readonly url?: string;
}

/** The PostgreSQL server for tests, from `KILN_TEST_DATABASE_URL`. */
export const postgresUrl = process.env['KILN_TEST_DATABASE_URL'];
const inCi = process.env['CI'] !== undefined && process.env['CI'] !== '';

let template: Promise<PGlite> | undefined;

after(async () => {
  if (template !== undefined) {
    await (await template).close();
  }
});

/** A migrated PGlite, made once per test process and cloned for each test. */
function pgliteTemplate(): Promise<PGlite> {
  template ??= (async () => {
    const pglite = await PGlite.create({ dataDir: 'memory://' });
    const database = await openDatabase({ kind: 'pglite-instance', pglite });
    await migrateDatabase(database);
    return pglite;
  })();
  return template;
}

const pgliteBackend: TestBackend = {
  name: 'pglite',
  async open() {
    const pglite = (await (await pgliteTemplate()).clone()) as PGlite;
    return openDatabase({ kind: 'pglite-instance', pglite });
  },
};

/**
 * PostgreSQL: each test gets a schema of its own in the test database, dropped
 * when the test closes it.
 */
function postgresBackend(url: string): TestBackend & { url: string } {
  return {
    name: 'postgres',
    url,
    async open() {
      const schema = `kiln_test_${process.pid}_${randomBytes(4).toString('hex')}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`create schema ${quoteIdentifier(schema)}`);
      await admin.end();
      const database = await openDatabase({ kind: 'postgres', url, schema }, { poolSize: 10 });
      await migrateDatabase(database);
      return {
        ...database,
        async close() {
          await database.close();
          const cleanup = new pg.Client({ connectionString: url });
          await cleanup.connect();
          await cleanup.query(`drop schema ${quoteIdentifier(schema)} cascade`);
          await cleanup.end();
        },
      };
    },
  };
}

/** The URL with `search_path` set, for another process to use the same schema. */
export function urlWithSchema(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('options', `-c search_path=${schema}`);
  return parsed.href;
}

/**
 * Runs `suite` on PostgreSQL when `KILN_TEST_DATABASE_URL` is set; without it,
 * runs `without` (in CI, a describe that fails the run instead).
 */
function onPostgresOr(
  suite: (backend: TestBackend & { url: string }) => void,
  without: () => void,
): void {
  if (postgresUrl !== undefined) {
    const backend = postgresBackend(postgresUrl);
    describe('postgres', () => {
      suite(backend);
    });
  } else if (inCi) {
    describe('postgres', () => {
      throw new Error(
        'CI is set but KILN_TEST_DATABASE_URL is not: PostgreSQL tests cannot be skipped',
      );
    });
  } else {
    without();
  }
}

/**
 * Runs `suite` on PostgreSQL only, for what needs a database server several
 * processes share. Without `KILN_TEST_DATABASE_URL` it is skipped, except in
 * CI, where that fails the run.
 */
export function onPostgres(suite: (backend: TestBackend & { url: string }) => void): void {
  onPostgresOr(suite, () => {
    describe('postgres', { skip: 'KILN_TEST_DATABASE_URL is not set' }, () => {
      suite(postgresBackend(''));
    });
  });
}

/**
 * Runs `suite` once per database backend: PGlite always, PostgreSQL when
 * `KILN_TEST_DATABASE_URL` is set. In CI a missing PostgreSQL fails the run
 * instead of skipping.
 */
export function forEachDatabase(suite: (backend: TestBackend) => void): void {
  describe('pglite', () => {
    suite(pgliteBackend);
  });
  onPostgres(suite);
}

/**
 * Runs `suite` on one database: PostgreSQL when `KILN_TEST_DATABASE_URL` is
 * set (always in CI), PGlite otherwise. For the permission matrices, which
 * send thousands of requests to test the API's rules: both backends run the
 * same PostgreSQL engine, every rule's query runs on PGlite too in the suites
 * that use `forEachDatabase`, and the matrices took a tenth of the suite's
 * time twice over.
 */
export function onOneDatabase(suite: (backend: TestBackend) => void): void {
  onPostgresOr(suite, () => {
    describe('pglite', () => {
      suite(pgliteBackend);
    });
  });
}
