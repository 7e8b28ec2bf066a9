import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openDatabase, type OpenDatabase } from './connect.ts';
import { isUniqueViolation } from './errors.ts';
import { migrateDatabase } from './migrate.ts';

/** The embedded database in its own process, driven through kiln's own handle. */
describe('PGlite in a process of its own', () => {
  let dir: string;
  let database: OpenDatabase;
  const lost: Error[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-pglite-process-'));
    database = await openDatabase(
      { kind: 'pglite', dataDir: join(dir, 'db') },
      { onExit: (error) => lost.push(error) },
    );
    await migrateDatabase(database);
    await sql`create table t (id int primary key, body bytea, at timestamptz, doc jsonb, n int8)`.execute(
      database.db,
    );
  });
  after(async () => {
    await database.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('returns values of every kind as PGlite parses them', async () => {
    const at = new Date('2026-12-05T08:00:00.123Z');
    const body = Buffer.from([0, 1, 2, 255]);
    await sql`insert into t values (1, ${body}, ${at}, ${JSON.stringify({ a: [1, 'b'] })}, 9007199254740991)`.execute(
      database.db,
    );
    const { rows } = await sql<{
      body: Uint8Array;
      at: Date;
      doc: unknown;
      n: unknown;
    }>`select body, at, doc, n from t where id = 1`.execute(database.db);
    assert.deepEqual(Buffer.from(rows[0]!.body), body);
    assert.equal(rows[0]!.at.getTime(), at.getTime());
    assert.deepEqual(rows[0]!.doc, { a: [1, 'b'] });
    assert.equal(String(rows[0]!.n), '9007199254740991');
  });

  it('carries a PostgreSQL error code and constraint across', async () => {
    const error = await sql`insert into t (id) values (1)`.execute(database.db).then(
      () => assert.fail('a duplicate key was accepted'),
      (caught: unknown) => caught as Error & { constraint?: string },
    );
    assert.ok(isUniqueViolation(error));
    assert.equal(error.constraint, 't_pkey');
    assert.match(error.message, /duplicate key/);
  });

  it('commits a transaction and rolls one back, holding other queries until it ends', async () => {
    await database.db.transaction().execute(async (trx) => {
      await sql`insert into t (id) values (2)`.execute(trx);
    });
    const events: string[] = [];
    let outside: Promise<unknown> = Promise.resolve();
    await database.db
      .transaction()
      .execute(async (trx) => {
        await sql`insert into t (id) values (3)`.execute(trx);
        // Issued outside the transaction: it waits until the transaction is over.
        outside = database
          .withScriptSession((session) =>
            session.query('select count(*)::int as n from t where id = 3'),
          )
          .then((rows) => events.push(`outside saw ${String(rows[0]?.['n'])}`));
        await sql`select pg_sleep(0.05)`.execute(trx);
        events.push('rolling back');
        throw new Error('roll back');
      })
      .catch((error: unknown) => {
        assert.equal((error as Error).message, 'roll back');
      });
    await outside;
    assert.deepEqual(events, ['rolling back', 'outside saw 0']);
    const { rows } = await sql<{
      id: number;
    }>`select id from t where id in (2, 3) order by id`.execute(database.db);
    assert.deepEqual(
      rows.map((row) => row.id),
      [2],
    );
  });

  it('delivers notifications to listeners until they unlisten', async () => {
    const heard: string[] = [];
    const unlisten = await database.listen('kiln_test', (payload) => heard.push(payload));
    await sql`select pg_notify('kiln_test', 'one')`.execute(database.db);
    await waitFor(() => heard.length === 1);
    await unlisten();
    await sql`select pg_notify('kiln_test', 'two')`.execute(database.db);
    await sql`select 1`.execute(database.db);
    assert.deepEqual(heard, ['one']);
  });

  it('keeps what was committed when reopened', async () => {
    await database.close();
    database = await openDatabase({ kind: 'pglite', dataDir: join(dir, 'db') });
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from t`.execute(
      database.db,
    );
    assert.equal(rows[0]!.n, 2);
    assert.deepEqual(lost, [], 'a clean close is not reported as a loss');
  });

  it('opens a data directory only once the process holding it has closed it', async () => {
    let second: OpenDatabase | undefined;
    const opening = openDatabase({ kind: 'pglite', dataDir: join(dir, 'db') }).then((opened) => {
      second = opened;
      return opened;
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(second, undefined, 'it waits while the first holds the database');
    await database.close();
    database = await opening;
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from t`.execute(
      database.db,
    );
    assert.equal(rows[0]?.n, 2);
  });

  it('fails every query with a clear error once the process is gone', async () => {
    const gone: Error[] = [];
    const other = await openDatabase(
      { kind: 'pglite', dataDir: join(dir, 'other') },
      { onExit: (error) => gone.push(error) },
    );
    const rows = await other.withScriptSession((session) =>
      session.query('select pg_backend_pid() as pid'),
    );
    assert.equal(rows.length, 1);
    const pid = other.processId ?? 0;
    assert.ok(pid > 0, 'the handle names its database process');
    process.kill(pid, 'SIGKILL');
    await waitFor(() => gone.length === 1);
    assert.match(gone[0]!.message, /embedded database process \(PGlite\) exited on SIGKILL/);
    await assert.rejects(sql`select 1`.execute(other.db), /exited on SIGKILL/);
    await other.close();
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 500 && !condition(); attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(condition(), 'the condition came true within 5 s');
}
