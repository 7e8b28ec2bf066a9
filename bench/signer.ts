/**
 * `node bench/signer.ts`: what signing costs on the publish path. Clearsigns a
 * ~10 KB Release text (an InRelease) and detach-signs it (a Release.gpg) with
 * one key and with two (a key rotation), on an in-memory PGlite database; each
 * call includes the signer's key lookup in the database. Also the one-off
 * costs: making a key, and the first signature after a start (decrypting the
 * key). Prints medians and 90th percentiles in milliseconds.
 */
import { PGlite } from '@electric-sql/pglite';
import { openDatabase } from '../src/server/db/connect.ts';
import { migrateDatabase } from '../src/server/db/migrate.ts';
import { createOpenPgpSigner } from '../src/server/signer/openpgp-signer.ts';

const rounds = 300;
const passphrase = 'bench passphrase';

/** A Release file of `lines` index entries, about 100 bytes each. */
function releaseText(lines: number): string {
  const entries = Array.from({ length: lines }, (_, i) => {
    const hash = (i * 2654435761).toString(16).padStart(8, '0').repeat(8).slice(0, 64);
    return ` ${hash} ${String(1000 + i).padStart(8)} main/binary-amd64/Packages${i}.xz`;
  });
  return [
    'Origin: kiln',
    'Suite: unstable',
    'Acquire-By-Hash: yes',
    'SHA256:',
    ...entries,
    '',
  ].join('\n');
}

async function time(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

async function measure(name: string, work: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await work();
  }
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    times.push(await time(work));
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => (times[Math.floor(q * (times.length - 1))] ?? NaN).toFixed(2);
  process.stdout.write(`${name.padEnd(36)} median ${at(0.5)} ms   p90 ${at(0.9)} ms\n`);
}

async function main(): Promise<void> {
  const pglite = await PGlite.create({ dataDir: 'memory://' });
  const database = await openDatabase({ kind: 'pglite-instance', pglite });
  try {
    await migrateDatabase(database);
    const signer = createOpenPgpSigner({ db: database.db, passphrase });
    const text = releaseText(105);
    process.stdout.write(`Release text: ${text.length} bytes, ${rounds} rounds each\n`);

    const made: number[] = [];
    for (let i = 0; i < 5; i++) {
      made.push(await time(() => signer.createKey({ name: `bench ${i}` })));
    }
    process.stdout.write(
      `${'createKey'.padEnd(36)} mean ${(made.reduce((a, b) => a + b) / 5).toFixed(1)} ms\n`,
    );
    const restarted = createOpenPgpSigner({ db: database.db, passphrase });
    const first = await time(() => restarted.clearsign([1], text));
    process.stdout.write(
      `${'first clearsign (decrypts the key)'.padEnd(36)} ${first.toFixed(1)} ms\n`,
    );

    await measure('clearsign, 1 key', () => signer.clearsign([1], text));
    await measure('clearsign, 2 keys', () => signer.clearsign([1, 2], text));
    await measure('detachSign, 1 key', () => signer.detachSign([1], text));
    await measure('detachSign, 2 keys', () => signer.detachSign([1, 2], text));
  } finally {
    await database.close();
  }
}

await main();
