import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { it } from 'node:test';
import { sql } from 'kysely';
import type { Db } from '../../src/server/db/connect.ts';
import { upkeepTables } from '../../src/server/db/upkeep.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { openEmptyDatabase } from '../helpers/schemas.ts';

// On PostgreSQL autovacuum could get there first and make the outcome a race.
const noAutovacuum = sql.raw('with (autovacuum_enabled = false)');

interface Activity {
  readonly dead: number;
  readonly modified: number;
  readonly analyzed: boolean;
}

async function activityOf(db: Db, table: string): Promise<Activity | undefined> {
  const { rows } = await sql<Activity>`
    select n_dead_tup::int as dead, n_mod_since_analyze::int as modified,
      (last_analyze is not null or last_autoanalyze is not null) as analyzed
    from pg_stat_user_tables where schemaname = current_schema() and relname = ${table}`.execute(
    db,
  );
  return rows[0];
}

/** Waits (at most 20 s) until the statistics show what `ready` wants: backends report them in the background. */
async function waitForActivity(
  db: Db,
  table: string,
  ready: (a: Activity) => boolean,
): Promise<Activity> {
  for (let tries = 0; ; tries += 1) {
    const activity = await activityOf(db, table);
    if (activity !== undefined && ready(activity)) {
      return activity;
    }
    assert.ok(
      tries < 200,
      `the statistics of ${table} never showed it: ${JSON.stringify(activity)}`,
    );
    await sleep(100);
  }
}

forEachDatabase((backend) => {
  it('embedded: vacuums a table with many dead rows and analyzes a changed one', async () => {
    const database = await openEmptyDatabase(backend);
    try {
      const { db } = database;
      await sql`create table churned (id int primary key, v int not null) ${noAutovacuum}`.execute(
        db,
      );
      await sql`insert into churned select g, 0 from generate_series(1, 2000) g`.execute(db);
      await sql`update churned set v = v + 1`.execute(db);
      await sql`create table quiet (id int primary key) ${noAutovacuum}`.execute(db);
      await waitForActivity(db, 'churned', (a) => a.dead >= 2000);

      const done = await upkeepTables(db, 'embedded');
      assert.deepEqual(done.vacuumed, ['churned']);
      assert.deepEqual(done.analyzed, []);
      const after = await waitForActivity(db, 'churned', (a) => a.analyzed);
      assert.equal(after.dead, 0);
      assert.equal(after.modified, 0);
      // Nothing changed since: nothing to do.
      assert.deepEqual(await upkeepTables(db, 'embedded'), { vacuumed: [], analyzed: [] });
    } finally {
      await database.close();
    }
  });

  it('server: analyzes only a table that doubled since its statistics, and vacuums nothing', async () => {
    const database = await openEmptyDatabase(backend);
    try {
      const { db } = database;
      await sql`create table grown (id int primary key) ${noAutovacuum}`.execute(db);
      await sql`insert into grown select g from generate_series(1, 3000) g`.execute(db);
      await sql`create table small (id int primary key, v int not null) ${noAutovacuum}`.execute(
        db,
      );
      await sql`insert into small select g, 0 from generate_series(1, 300) g`.execute(db);
      await sql`update small set v = 1`.execute(db);
      await waitForActivity(db, 'grown', (a) => a.modified >= 3000);
      await waitForActivity(db, 'small', (a) => a.dead >= 300);

      const done = await upkeepTables(db, 'server');
      assert.deepEqual(done, { vacuumed: [], analyzed: ['grown'] });
      assert.equal((await waitForActivity(db, 'grown', (a) => a.analyzed)).modified, 0);
      assert.ok(
        ((await activityOf(db, 'small'))?.dead ?? 0) >= 300,
        'dead rows are left to autovacuum',
      );
    } finally {
      await database.close();
    }
  });
});
