/**
 * The child process of `preparePgliteApart`: creates the PGlite database in
 * the data directory given as the only argument if it has none, migrates it,
 * closes it and prints the migrations applied (a JSON array) on stdout.
 */
import { openDatabase } from './connect.ts';
import { migrateDatabase } from './migrate.ts';

const dataDir = process.argv[2];
if (dataDir === undefined) {
  process.stderr.write('usage: pglite-apart-child.ts DATA_DIR\n');
  process.exit(2);
}
const database = await openDatabase({ kind: 'pglite', dataDir });
try {
  process.stdout.write(`${JSON.stringify(await migrateDatabase(database))}\n`);
} finally {
  await database.close();
}
