import { readdir, readFile } from 'node:fs/promises';
import type { OpenDatabase, ScriptSession } from './connect.ts';

const migrationsDir = new URL('./migrations/', import.meta.url);

// Any fixed number: every kiln server takes this transaction-level advisory lock
// around each migration, so two servers starting at once apply each file once.
const migrationLockKey = 0x6b696c6e;

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** The migrations shipped with kiln, ordered by version (`NNNN-name.sql`). */
export async function loadMigrations(): Promise<readonly Migration[]> {
  const names = (await readdir(migrationsDir)).filter((n) => n.endsWith('.sql')).sort();
  return Promise.all(
    names.map(async (name) => {
      const match = /^(\d{4})-(.+)\.sql$/.exec(name);
      if (match?.[1] === undefined || match[2] === undefined) {
        throw new Error(`migration file ${name} is not named NNNN-name.sql`);
      }
      return {
        version: Number(match[1]),
        name: match[2],
        sql: await readFile(new URL(name, migrationsDir), 'utf8'),
      };
    }),
  );
}

/**
 * Applies every migration not yet applied, each in its own transaction, and
 * returns the versions it applied. Safe to run from several servers at once.
 */
export async function migrateDatabase(database: OpenDatabase): Promise<readonly number[]> {
  const migrations = await loadMigrations();
  return database.withScriptSession(async (session) => {
    const applied: number[] = [];
    for (const migration of migrations) {
      if (await applyMigration(session, migration)) {
        applied.push(migration.version);
      }
    }
    return applied;
  });
}

async function applyMigration(session: ScriptSession, migration: Migration): Promise<boolean> {
  await session.query('begin');
  try {
    await session.query('select pg_advisory_xact_lock($1)', [migrationLockKey]);
    await session.exec(`create table if not exists kiln_migrations (
      version integer primary key,
      name text not null,
      applied_at timestamptz not null default now()
    )`);
    const existing = await session.query('select 1 from kiln_migrations where version = $1', [
      migration.version,
    ]);
    if (existing.length > 0) {
      await session.query('commit');
      return false;
    }
    await session.exec(migration.sql);
    await session.query('insert into kiln_migrations (version, name) values ($1, $2)', [
      migration.version,
      migration.name,
    ]);
    await session.query('commit');
    return true;
  } catch (error) {
    await session.query('rollback');
    throw new Error(`migration ${migration.version}-${migration.name} failed`, { cause: error });
  }
}
