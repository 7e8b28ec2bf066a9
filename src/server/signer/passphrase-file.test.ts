import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadOrCreatePassphrase } from './passphrase-file.ts';

describe('loadOrCreatePassphrase', () => {
  let dir: string;
  let dirs = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-passphrase-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const freshDir = async () => mkdtemp(join(dir, `d${++dirs}-`));

  it('makes a random passphrase in a file only its owner reads, and reads it back', async () => {
    const path = join(await freshDir(), 'signer.passphrase');
    const made = await loadOrCreatePassphrase(path);
    assert.match(made, /^[A-Za-z0-9_-]{43}$/, '256 bits, base64url');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal(await readFile(path, 'utf8'), `${made}\n`);
    assert.equal(await loadOrCreatePassphrase(path), made);
    assert.notEqual(await loadOrCreatePassphrase(join(await freshDir(), 'p')), made);
  });

  it('gives servers starting at once the same passphrase, and leaves no temporary file', async () => {
    const home = await freshDir();
    const path = join(home, 'signer.passphrase');
    const all = await Promise.all(Array.from({ length: 8 }, () => loadOrCreatePassphrase(path)));
    assert.equal(new Set(all).size, 1);
    assert.deepEqual(await readdir(home), ['signer.passphrase']);
  });

  it('reads a file an administrator wrote, without its line ending', async () => {
    const path = join(await freshDir(), 'p');
    await writeFile(path, 'my pass phrase \n', { mode: 0o600 });
    assert.equal(await loadOrCreatePassphrase(path), 'my pass phrase ');
    await writeFile(path, 'crlf\r\n');
    assert.equal(await loadOrCreatePassphrase(path), 'crlf');
  });

  it('refuses a file others may read, and an empty one', async () => {
    const path = join(await freshDir(), 'p');
    await writeFile(path, 'secret\n');
    await chmod(path, 0o644);
    await assert.rejects(
      loadOrCreatePassphrase(path),
      /may be read by other users \(mode 644\): chmod 600/,
    );
    await chmod(path, 0o600);
    await writeFile(path, '\n');
    await assert.rejects(loadOrCreatePassphrase(path), /is empty/);
  });
});
