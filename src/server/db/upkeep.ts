import { sql } from 'kysely';
import type { Db } from './connect.ts';
import { quoteIdentifier } from './connect.ts';

/** What `upkeepTables` did: the tables it vacuumed and the ones it analyzed. */
export interface UpkeepResult {
  readonly vacuumed: readonly string[];
  readonly analyzed: readonly string[];
}

/**
 * When a table's statistics or dead rows call for work, as PostgreSQL's
 * autovacuum decides it (§25.1.6: a base threshold plus a fraction of the
 * live rows), but for two cases autovacuum does not serve:
 *
 * - `embedded`: PGlite runs PostgreSQL in single-user mode, where no
 *   autovacuum launcher runs at all: without this, every task's updates
 *   would leave dead rows in `tasks` for ever, and the planner would never
 *   have statistics. Here kiln vacuums and analyzes as autovacuum would.
 * - `server`: autovacuum visits a database once a minute (its naptime); a
 *   farm that starts empty and takes thousands of tasks in that minute would
 *   run on plans made for empty tables (a prepared statement keeps its
 *   generic plan until the table is analyzed: the token lookup scanned every
 *   token). Here kiln only analyzes a table that has at least doubled since
 *   its statistics were taken (inserts since then at least half its rows);
 *   autovacuum's own threshold (a tenth) comes first in a steady farm.
 */
const policies = {
  embedded: { vacuumBase: 50, vacuumScale: 0.2, analyzeBase: 50, analyzeScale: 0.1 },
  server: { vacuumBase: Infinity, vacuumScale: 0, analyzeBase: 500, analyzeScale: 0.5 },
} as const;

export type UpkeepMode = keyof typeof policies;

interface TableActivity {
  readonly name: string;
  readonly live: number;
  readonly dead: number;
  readonly modified: number;
}

/**
 * Vacuums and analyzes the tables of the current schema that need it under
 * `mode`'s policy, one statement per table. On a server several replicas may
 * run this at once: a session advisory lock lets one of them do it.
 */
export async function upkeepTables(db: Db, mode: UpkeepMode): Promise<UpkeepResult> {
  return db.connection().execute(async (conn) => {
    const locked = await sql<{ locked: boolean }>`
      select pg_try_advisory_lock(${upkeepLockKey}) as locked`.execute(conn);
    if (locked.rows[0]?.locked !== true) {
      return { vacuumed: [], analyzed: [] };
    }
    try {
      const policy = policies[mode];
      const vacuumed: string[] = [];
      const analyzed: string[] = [];
      for (const table of await listTableActivity(conn)) {
        const vacuum = table.dead > policy.vacuumBase + policy.vacuumScale * table.live;
        const analyze = table.modified > policy.analyzeBase + policy.analyzeScale * table.live;
        if (vacuum || analyze) {
          const name = sql.raw(quoteIdentifier(table.name));
          await (vacuum ? sql`vacuum (analyze) ${name}` : sql`analyze ${name}`).execute(conn);
          (vacuum ? vacuumed : analyzed).push(table.name);
        }
      }
      return { vacuumed, analyzed };
    } finally {
      await sql`select pg_advisory_unlock(${upkeepLockKey})`.execute(conn);
    }
  });
}

/** 'kiup' */
const upkeepLockKey = 0x6b697570;

async function listTableActivity(db: Db): Promise<TableActivity[]> {
  const result = await sql<TableActivity>`
    select relname as name, n_live_tup::float8 as live, n_dead_tup::float8 as dead,
      n_mod_since_analyze::float8 as modified
    from pg_stat_user_tables where schemaname = current_schema()
    order by relname`.execute(db);
  return result.rows;
}
