import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { inspect } from 'node:util';
import { sql } from 'kysely';
import * as openpgp from 'openpgp';
import type { OpenDatabase } from '../../src/server/db/connect.ts';
import { cleartextSignedText } from '../../src/server/signer/cleartext.ts';
import { createOpenPgpSigner } from '../../src/server/signer/openpgp-signer.ts';
import { SignerError, type Signer, type SigningKey } from '../../src/server/signer/signer.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { createGpgHome, readCleartext, type GpgHome } from '../helpers/gpg.ts';
import { startTestServer } from '../helpers/server.ts';

const passphrase = 'test passphrase, not a secret';

/** A Release file of about `lines` × 100 bytes, as apt-ftparchive writes one. */
function releaseText(lines: number): string {
  const files = Array.from({ length: lines }, (_, i) => {
    const hash = (i * 2654435761).toString(16).padStart(8, '0').repeat(8);
    return ` ${hash} ${String(1000 + i).padStart(8)} main/binary-amd64/Packages${i}.xz`;
  });
  return ['Origin: kiln', 'Suite: unstable', 'Acquire-By-Hash: yes', 'SHA256:', ...files, ''].join(
    '\n',
  );
}

/** Text that tests every rule of RFC 4880 §7 a Release file never needs. */
const trickyText = [
  'Origin: kiln',
  'Label: blanks at the end  ',
  'Suite: a tab at the end\t',
  '-----BEGIN PGP SIGNATURE-----',
  '- looks escaped already',
  '--',
  '-',
  'Description: Ünïcödé ✓ 🦀',
  'From the start of a line',
  ' \t ',
  '',
  '',
].join('\n');

function assertSignerError(code: SignerError['code'], pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof SignerError, `expected a SignerError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern !== undefined) {
      assert.match(error.message, pattern);
    }
    return true;
  };
}

/** The 32-byte Ed25519 seed of a stored key, decrypted here with the passphrase. */
async function secretSeed(database: OpenDatabase, id: number): Promise<Uint8Array> {
  const row = await database.db
    .selectFrom('signing_keys')
    .select('private_key')
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  assert.ok(row.private_key !== null);
  const locked = await openpgp.readPrivateKey({ armoredKey: row.private_key });
  const unlocked = await openpgp.decryptKey({ privateKey: locked, passphrase });
  const packet = unlocked.keyPacket;
  assert.ok(packet instanceof openpgp.SecretKeyPacket);
  const seed: unknown = Reflect.get(packet.privateParams ?? {}, 'seed');
  assert.ok(seed instanceof Uint8Array && seed.length === 32, 'an Ed25519 seed');
  return seed;
}

forEachDatabase((backend) => {
  let database: OpenDatabase;
  let signer: Signer;
  let gpg: GpgHome;
  let files = 0;

  before(async () => {
    database = await backend.open();
    signer = createOpenPgpSigner({ db: database.db, passphrase });
    gpg = await createGpgHome();
  });
  after(async () => {
    await gpg.close();
    await database.close();
  });

  /** gpgv on a cleartext message, with a keyring of `keys`. */
  async function gpgvClearsigned(message: string, keys: readonly SigningKey[]) {
    const n = ++files;
    const keyring = await gpg.keyring(`k${n}.gpg`, await signer.publicKeys(keys.map((k) => k.id)));
    const path = await gpg.write(`InRelease${n}`, message);
    const output = join(gpg.dir, `InRelease${n}.out`);
    return { ...(await gpg.gpgv(keyring, '--output', output, path)), output };
  }

  it('makes v4 Ed25519 keys with no subkey, public facts only', async () => {
    const before = Math.floor(Date.now() / 1000);
    const key = await signer.createKey({ name: 'kiln repository demo/main', email: 'a@b.example' });
    assert.match(key.fingerprint, /^[0-9A-F]{40}$/);
    assert.equal(key.algorithm, 'ed25519');
    assert.equal(key.user_id, 'kiln repository demo/main <a@b.example>');
    assert.equal(key.state, 'active');
    assert.equal(key.retired_at, null);
    assert.deepEqual(await signer.getKeys([key.id]), [key]);

    const keyring = await gpg.keyring('one.gpg', key.public_key);
    const packets = (await gpg.gpg('--list-packets', keyring)).stdout;
    // OpenPGP v4, algorithm 22 (EdDSA, "EdDSALegacy" in RFC 9580): what gpgv verifies.
    assert.match(packets, /:public key packet:\n\tversion 4, algo 22, created (\d+)/);
    assert.doesNotMatch(packets, /public sub key packet/);
    assert.match(packets, /key flags: 03\)/, 'certifies and signs');
    const created = Number(/created (\d+)/.exec(packets)?.[1]);
    assert.equal(key.created_at.getTime(), created * 1000);
    assert.ok(created >= before - 1 && created <= Date.now() / 1000 + 1);
    const colons = (await gpg.gpg('--show-keys', '--with-colons', keyring)).stdout;
    assert.match(colons, new RegExp(`^fpr:+${key.fingerprint}:$`, 'm'));
    assert.match(colons, /^pub:[^:]*:255:22:.*:ed25519:/m);
  });

  it('clearsigns an InRelease that gpgv verifies and whose text comes back byte for byte', async () => {
    const key = await signer.createKey({ name: 'InRelease' });
    for (const text of [releaseText(100), trickyText, 'no final line ending', '\n', '']) {
      const message = await signer.clearsign([key.id], text);
      assert.ok(!message.includes('\r'), 'LF line endings only');
      const gpgv = await gpgvClearsigned(message, [key]);
      assert.equal(gpgv.code, 0, gpgv.stderr);
      assert.deepEqual(gpgv.valid, [key.fingerprint]);

      const read = readCleartext(message);
      assert.equal(read.text, text, 'the signed text, read as apt reads it, is the input');
      assert.deepEqual(read.hashHeaders, ['SHA512']);
      // gpg writes the text its own way: blanks at line ends dropped (they are
      // not signed, §7.1) and every line ended, the last one too.
      assert.equal(await readFile(gpgv.output, 'utf8'), `${cleartextSignedText(text)}\n`);

      // openpgp.js verifies it too.
      const verification = await openpgp.verify({
        message: await openpgp.readCleartextMessage({ cleartextMessage: message }),
        verificationKeys: (await openpgp.readKey({ armoredKey: key.public_key })).toPublic(),
        expectSigned: true,
      });
      assert.equal(verification.data, cleartextSignedText(text));
    }
  });

  it('fails gpgv when the signed text is changed, except blanks at line ends, which §7.1 leaves unsigned', async () => {
    const key = await signer.createKey({ name: 'tamper' });
    const message = await signer.clearsign([key.id], releaseText(20));
    const changed = message.replace('Suite: unstable', 'Suite: stable');
    assert.notEqual(changed, message);
    const tampered = await gpgvClearsigned(changed, [key]);
    assert.notEqual(tampered.code, 0);
    assert.equal(tampered.bad.length, 1);
    assert.equal(tampered.acceptedByApt, false);

    const dropped = message.replace('Acquire-By-Hash: yes\n', '');
    assert.equal((await gpgvClearsigned(dropped, [key])).acceptedByApt, false);

    const blanks = message.replace('Suite: unstable\n', 'Suite: unstable \t\n');
    assert.equal((await gpgvClearsigned(blanks, [key])).code, 0);
  });

  it('makes a Release.gpg that `gpgv --keyring k Release.gpg Release` verifies', async () => {
    const key = await signer.createKey({ name: 'Release.gpg' });
    const keyring = await gpg.keyring('release.gpg', await signer.publicKeys([key.id]));
    const binary = new Uint8Array([0, 13, 10, 255, 32, 10, 45, 32]);
    for (const data of [releaseText(100), trickyText, binary]) {
      const signature = await signer.detachSign([key.id], data);
      assert.match(
        signature,
        /^-----BEGIN PGP SIGNATURE-----\n[^\r]*-----END PGP SIGNATURE-----\n$/,
      );
      const release = await gpg.write('Release', data);
      const releaseGpg = await gpg.write('Release.gpg', signature);
      const good = await gpg.gpgv(keyring, releaseGpg, release);
      assert.equal(good.code, 0, good.stderr);
      assert.deepEqual(good.valid, [key.fingerprint]);

      // Binary mode: not even a blank at a line end may change.
      const changed =
        typeof data === 'string' ? data.replace('\n', ' \n') : Uint8Array.of(...data, 0);
      await gpg.write('Release', changed);
      const bad = await gpg.gpgv(keyring, releaseGpg, release);
      assert.notEqual(bad.code, 0);
      assert.equal(bad.bad.length, 1);
    }
  });

  it('signs with two keys at once; either key alone in the keyring verifies', async () => {
    const old = await signer.createKey({ name: 'old key' });
    const current = await signer.createKey({ name: 'new key' });
    const ids = [old.id, current.id];
    const text = releaseText(30);
    const message = await signer.clearsign(ids, text);
    assert.equal(readCleartext(message).text, text);

    const both = await gpgvClearsigned(message, [old, current]);
    assert.equal(both.code, 0, both.stderr);
    assert.deepEqual([...both.valid].sort(), [old.fingerprint, current.fingerprint].sort());

    for (const [present, missing] of [
      [old, current],
      [current, old],
    ] as const) {
      const one = await gpgvClearsigned(message, [present]);
      assert.deepEqual(one.valid, [present.fingerprint]);
      assert.deepEqual(one.noPublicKey, [missing.fingerprint.slice(-16)]);
      assert.deepEqual(one.bad, []);
      // gpgv exits 2 ("a signature could not be checked"); apt accepts, as it
      // does for Debian's own InRelease files signed by several archive keys.
      assert.equal(one.code, 2);
      assert.equal(one.acceptedByApt, true);
    }

    const release = await gpg.write('Release-two', text);
    const releaseGpg = await gpg.write('Release-two.gpg', await signer.detachSign(ids, text));
    const keyring = await gpg.keyring('two.gpg', await signer.publicKeys(ids));
    const detached = await gpg.gpgv(keyring, releaseGpg, release);
    assert.equal(detached.code, 0, detached.stderr);
    assert.equal(detached.valid.length, 2);

    // Both public keys come in one armored block.
    const block = await signer.publicKeys(ids);
    assert.equal(block.match(/-----BEGIN PGP PUBLIC KEY BLOCK-----/g)?.length, 1);
    const keys = await openpgp.readKeys({ armoredKeys: block });
    assert.deepEqual(
      keys.map((k) => k.getFingerprint().toUpperCase()),
      [old.fingerprint, current.fingerprint],
    );
  });

  it('never lets a private key out, and stores it only encrypted', async () => {
    const key = await signer.createKey({ name: 'secret keeper', email: 'keeper@example.org' });
    const seed = await secretSeed(database, key.id);
    const forms = [
      Buffer.from(seed).toString('hex'),
      Buffer.from(seed).toString('hex').toUpperCase(),
      Buffer.from(seed).toString('base64').slice(0, 40),
      Buffer.from(seed).toString('base64url').slice(0, 40),
    ];
    const visible = [
      key,
      await signer.getKeys([key.id]),
      await signer.publicKeys([key.id]),
      await signer.clearsign([key.id], releaseText(5)),
      await signer.detachSign([key.id], releaseText(5)),
      inspect(signer, { depth: 10, showHidden: true }),
    ];
    for (const value of visible) {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      assert.doesNotMatch(text, /PRIVATE KEY/);
      assert.ok(!text.includes(passphrase), 'the passphrase is not visible');
      for (const form of forms) {
        assert.ok(!text.includes(form), 'no form of the seed is visible');
      }
    }
    assert.deepEqual(Object.keys(key).sort(), [
      'algorithm',
      'created_at',
      'fingerprint',
      'id',
      'public_key',
      'retired_at',
      'state',
      'user_id',
    ]);
    for (const value of Object.values(signer)) {
      assert.equal(typeof value, 'function', 'the signer holds no data others can reach');
    }

    // The stored row: every column as text, and the stored key's packets as bytes.
    const rows = await sql<{ row: string }>`select t::text as row from signing_keys t`.execute(
      database.db,
    );
    const dump = rows.rows.map((r) => r.row).join('\n');
    assert.ok(dump.includes(key.fingerprint));
    for (const form of forms) {
      assert.ok(!dump.includes(form), 'no form of the seed is in the database');
    }
    const stored = await database.db
      .selectFrom('signing_keys')
      .select('private_key')
      .where('id', '=', key.id)
      .executeTakeFirstOrThrow();
    assert.ok(stored.private_key !== null);
    const locked = await openpgp.readPrivateKey({ armoredKey: stored.private_key });
    assert.equal(locked.isDecrypted(), false);
    assert.ok(!Buffer.from(locked.write()).includes(Buffer.from(seed)), 'the seed is encrypted');
    await assert.rejects(
      openpgp.decryptKey({ privateKey: locked, passphrase: 'not it' }),
      /passphrase/,
    );
  });

  it('fails clearly when the passphrase is not the one the key was made with', async () => {
    const key = await signer.createKey({ name: 'made under one passphrase' });
    const other = createOpenPgpSigner({ db: database.db, passphrase: 'another passphrase' });
    const wrong = assertSignerError(
      'wrong_passphrase',
      new RegExp(`signing key ${key.id} \\(${key.fingerprint}\\).*passphrase`),
    );
    await assert.rejects(other.clearsign([key.id], 'text\n'), wrong);
    await assert.rejects(other.detachSign([key.id], 'text\n'), wrong);
    // The failure is not cached: a key the other signer makes works, and the
    // right passphrase still signs.
    const own = await other.createKey({ name: 'made under the other' });
    await other.clearsign([own.id], 'text\n');
    const fresh = createOpenPgpSigner({ db: database.db, passphrase, cacheSize: 0 });
    await fresh.clearsign([key.id], 'text\n');
    await assert.rejects(
      fresh.clearsign([own.id], 'text\n'),
      assertSignerError('wrong_passphrase'),
    );
  });

  it('retires a key: it signs no more, on any server, and its private part is gone', async () => {
    const key = await signer.createKey({ name: 'to retire' });
    const replica = createOpenPgpSigner({ db: database.db, passphrase });
    await replica.clearsign([key.id], 'cached\n');

    const retired = await signer.retireKey(key.id);
    assert.equal(retired.state, 'retired');
    assert.ok(retired.retired_at instanceof Date);
    assert.deepEqual(await signer.retireKey(key.id), retired, 'retiring twice changes nothing');
    assert.deepEqual(await signer.getKeys([key.id]), [retired]);
    for (const s of [signer, replica]) {
      await assert.rejects(s.clearsign([key.id], 'x\n'), assertSignerError('retired_key'));
      await assert.rejects(s.detachSign([key.id], 'x\n'), assertSignerError('retired_key'));
    }
    const row = await database.db
      .selectFrom('signing_keys')
      .select('private_key')
      .where('id', '=', key.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.private_key, null);
    // Old publications stay verifiable.
    assert.equal(await signer.publicKeys([key.id]), await signer.publicKeys([key.id, key.id]));
    await openpgp.readKey({ armoredKey: await signer.publicKeys([key.id]) });
  });

  it('refuses unknown keys, empty key lists, bad names and text it cannot give back', async () => {
    const key = await signer.createKey({ name: 'refusals' });
    const unknown = assertSignerError('unknown_key', /no signing key 999999/);
    await assert.rejects(signer.clearsign([key.id, 999999], 'x'), unknown);
    await assert.rejects(signer.detachSign([999999], 'x'), unknown);
    await assert.rejects(signer.publicKeys([999999]), unknown);
    await assert.rejects(signer.getKeys([999999]), unknown);
    await assert.rejects(signer.retireKey(999999), unknown);
    await assert.rejects(signer.clearsign([], 'x'), assertSignerError('bad_request'));
    await assert.rejects(signer.clearsign([0.5], 'x'), assertSignerError('bad_request'));
    for (const options of [{ name: '  ' }, { name: 'a <b>' }, { name: 'a\nb' }]) {
      await assert.rejects(signer.createKey(options), assertSignerError('bad_request'));
    }
    await assert.rejects(
      signer.createKey({ name: 'ok', email: 'not an address' }),
      assertSignerError('bad_request'),
    );
    const unsignable = assertSignerError('unsignable_text');
    await assert.rejects(signer.clearsign([key.id], 'a\r\nb\r\n'), unsignable);
    await assert.rejects(signer.clearsign([key.id], 'lone \ud800'), unsignable);
    await assert.rejects(signer.detachSign([key.id], 'lone \udc00'), unsignable);
    // A carriage return is fine in a detached (binary) signature.
    await signer.detachSign([key.id], 'a\r\nb\r\n');
  });

  it('is started by the server, with a passphrase file it makes, mode 0600', async () => {
    const server = await startTestServer(backend);
    try {
      const file = await stat(join(server.dataDir, 'signer.passphrase'));
      assert.equal(file.mode & 0o777, 0o600);
      const key = await server.signer.createKey({ name: 'from the server' });
      const gpgv = await gpg.gpgv(
        await gpg.keyring('server.gpg', await server.signer.publicKeys([key.id])),
        await gpg.write('server-InRelease', await server.signer.clearsign([key.id], 'ok\n')),
      );
      assert.equal(gpgv.code, 0, gpgv.stderr);
    } finally {
      await server.close();
    }
  });
});
