import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { sql } from 'kysely';
import { openDatabase, type OpenDatabase } from '../../src/server/db/connect.ts';
import { loadMigrations, migrateDatabase } from '../../src/server/db/migrate.ts';
import { forEachDatabase, onPostgres } from '../helpers/databases.ts';
import { childEnv, startKiln } from '../helpers/processes.ts';
import { createFreshSchema, openEmptyDatabase } from '../helpers/schemas.ts';

const tokenLine = /Its token \(shown once\):\n {2}(kiln_p_\S+)\n/;

async function recorded(database: OpenDatabase): Promise<[number, string][]> {
  const rows = await database.db
    .selectFrom('kiln_migrations')
    .select(['version', 'name'])
    .orderBy('version')
    .execute();
  return rows.map((r) => [r.version, r.name]);
}

async function tableNames(database: OpenDatabase): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema() order by table_name`.execute(database.db);
  return rows.map((r) => r.name);
}

forEachDatabase((backend) => {
  it('applies every migration once, and nothing when run again', async () => {
    const migrations = await loadMigrations();
    assert.ok(migrations.length > 0);
    assert.deepEqual(
      migrations.map((m) => m.version),
      migrations.map((_, i) => i + 1),
      'migrations are numbered 1, 2, 3… without gaps',
    );
    const database = await openEmptyDatabase(backend);
    try {
      assert.deepEqual(await tableNames(database), []);
      const applied = await migrateDatabase(database);
      assert.deepEqual(
        applied,
        migrations.map((m) => m.version),
      );
      assert.deepEqual(
        await recorded(database),
        migrations.map((m) => [m.version, m.name]),
      );
      const tables = await tableNames(database);
      for (const table of ['users', 'tokens', 'workspaces', 'artifacts', 'kiln_migrations']) {
        assert.ok(tables.includes(table), `${table} exists`);
      }
      const before = await database.db.selectFrom('kiln_migrations').selectAll().execute();

      assert.deepEqual(await migrateDatabase(database), []);
      assert.deepEqual(await migrateDatabase(database), []);
      const after = await database.db.selectFrom('kiln_migrations').selectAll().execute();
      assert.deepEqual(after, before, 'a second run records nothing and changes nothing');
    } finally {
      await database.close();
    }
  });
});

onPostgres((backend) => {
  it('applies each migration once when two servers migrate at the same moment', async () => {
    const migrations = await loadMigrations();
    // A few rounds: a race that is lost only sometimes still shows.
    for (let round = 0; round < 3; round++) {
      const fresh = await createFreshSchema(backend.url);
      const location = {
        kind: 'postgres',
        url: backend.url,
        schema: fresh.schema,
      } as const;
      const first = await openDatabase(location, { poolSize: 2 });
      const second = await openDatabase(location, { poolSize: 2 });
      try {
        const [a, b] = await Promise.all([migrateDatabase(first), migrateDatabase(second)]);
        assert.deepEqual(
          [...a, ...b].sort((x, y) => x - y),
          migrations.map((m) => m.version),
          'between them, the two applied every migration exactly once',
        );
        assert.deepEqual(
          await recorded(first),
          migrations.map((m) => [m.version, m.name]),
        );
        assert.deepEqual(await migrateDatabase(second), []);
      } finally {
        await first.close();
        await second.close();
        await fresh.drop();
      }
    }
  });

  it('starts two `kiln serve` at once on one fresh schema: both run, one admin token', async () => {
    const fresh = await createFreshSchema(backend.url);
    const dataDirs = [
      await mkdtemp(join(tmpdir(), 'kiln-test-')),
      await mkdtemp(join(tmpdir(), 'kiln-test-')),
    ];
    const servers = dataDirs.map((dataDir) =>
      startKiln(
        ['serve', '--data', dataDir, '--port', '0', '--database', fresh.url, '--log-level', 'info'],
        childEnv(),
      ),
    );
    try {
      const urls = await Promise.all(
        servers.map(async (server) => {
          const [, url] = await server.waitFor(/"url":"(http:[^"]+)".*"msg":"kiln server started"/);
          return url!;
        }),
      );
      // The token is printed just after the log line, by whichever created the admin.
      const [, token] = await Promise.any(servers.map((server) => server.waitFor(tokenLine)));
      for (const url of urls) {
        const me = await fetch(`${url}/api/v1/me`, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(me.status, 200, `${url} serves the shared database`);
      }
      const stopped = await Promise.all(servers.map((server) => server.stop()));
      assert.deepEqual(stopped, [
        { code: 0, signal: null },
        { code: 0, signal: null },
      ]);
      const printed = servers.filter((server) => /kiln_p_/.test(server.stderr()));
      assert.equal(printed.length, 1, servers.map((s) => s.stderr()).join('\n---\n'));

      // Both served one database: it holds one admin and each migration once.
      const database = await openDatabase({
        kind: 'postgres',
        url: backend.url,
        schema: fresh.schema,
      });
      try {
        const users = await database.db.selectFrom('users').select(['username', 'role']).execute();
        assert.deepEqual(users, [{ username: 'admin', role: 'admin' }]);
        assert.equal((await database.db.selectFrom('tokens').selectAll().execute()).length, 1);
        const migrations = await loadMigrations();
        assert.deepEqual(
          await recorded(database),
          migrations.map((m) => [m.version, m.name]),
        );
      } finally {
        await database.close();
      }
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
      await fresh.drop();
      await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
    }
  });
});
