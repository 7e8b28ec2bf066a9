import { randomBytes } from 'node:crypto';
import { link, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * The signer's passphrase from a file, made if it does not exist: the default
 * when no passphrase is configured (`<data>/signer.passphrase`), so that
 * `kiln up` needs no setup. A new file holds 256 random bits (base64url and a
 * newline), mode 0600, and appears whole or not at all: servers starting at
 * once on one data directory all read the same passphrase.
 *
 * Losing the file loses every key made under it; servers that share one
 * database but not a data directory must be given one passphrase explicitly.
 *
 * Refuses a file that other users may read, as ssh refuses such a key file.
 */
export async function loadOrCreatePassphrase(path: string): Promise<string> {
  const existing = await readPassphrase(path);
  if (existing !== undefined) {
    return existing;
  }
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(`${randomBytes(32).toString('base64url')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    // link(2), unlike rename(2), fails if the name exists: the first server's file wins.
    await link(temporary, path);
    await syncDirectory(dirname(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw error;
    }
  } finally {
    await unlink(temporary);
  }
  const created = await readPassphrase(path);
  if (created === undefined) {
    throw new Error(`${path} vanished as it was made`);
  }
  return created;
}

/** The passphrase in `path` without its line ending, or `undefined` if there is no file. */
async function readPassphrase(path: string): Promise<string | undefined> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }
  if ((mode & 0o077) !== 0) {
    throw new Error(
      `${path} may be read by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 it`,
    );
  }
  const passphrase = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  if (passphrase.length === 0) {
    throw new Error(`${path} is empty: it must hold the signing passphrase`);
  }
  return passphrase;
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
