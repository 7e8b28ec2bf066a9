import * as openpgp from 'openpgp';
import type { Db } from '../db/connect.ts';
import { assertSignableText, cleartextSignedText, frameCleartext } from './cleartext.ts';
import {
  type SigningKey,
  SignerError,
  type CreateKeyOptions,
  type Signer,
  type SigningKeyState,
} from './signer.ts';
import {
  insertSigningKey,
  listPrivateKeys,
  listPublicKeys,
  retireSigningKey,
  type PublicKeyRow,
} from './signing-key.repository.ts';

export interface OpenPgpSignerOptions {
  readonly db: Db;
  /**
   * Protects every private key at rest. Keys made under one passphrase cannot
   * sign under another, so all servers sharing a database need the same one.
   */
  readonly passphrase: string;
  /** Decrypted keys kept in memory, least recently used dropped first (default 64). */
  readonly cacheSize?: number;
}

/**
 * Keys: OpenPGP v4, EdDSA over Ed25519 (openpgp.js `curve25519Legacy`,
 * algorithm 22, what `gpg --quick-gen-key NAME ed25519` makes), one primary
 * key that certifies and signs and no subkeys. apt verifies with gpgv; the
 * one in Debian 12 (GnuPG 2.2) reads no v6 key, and says "Invalid public key
 * algorithm" for the RFC 9580 Ed25519 (algorithm 27) of openpgp.js's
 * `curve25519` type, even in a v4 key.
 *
 * At rest a key is OpenPGP's own passphrase protection (iterated and salted
 * S2K, AES-256), so an administrator can move one to gpg with the passphrase.
 */
const keyConfig = { v6Keys: false, aeadProtect: false } satisfies openpgp.PartialConfig;
/** SHA-512: the digest Ed25519 itself uses; apt accepts SHA-256 and up. */
const signConfig = {
  preferredHashAlgorithm: openpgp.enums.hash.sha512,
} satisfies openpgp.PartialConfig;

/** A {@link Signer} on openpgp.js that keeps its keys, encrypted, in kiln's database. */
export function createOpenPgpSigner(options: OpenPgpSignerOptions): Signer {
  const { db, passphrase } = options;
  const unlocked = createKeyCache(options.cacheSize ?? 64);

  /** The decrypted keys, each once, in the order first asked. */
  async function signingKeys(keyIds: readonly number[]): Promise<openpgp.PrivateKey[]> {
    const ids = distinctIds(keyIds);
    const rows = new Map((await listPrivateKeys(db, ids)).map((row) => [row.id, row]));
    const locked = ids.map((id) => {
      const row = rows.get(id);
      if (row === undefined) {
        throw new SignerError('unknown_key', `no signing key ${id}`);
      }
      if (row.private_key === null) {
        // Retired, perhaps by another server since this one cached it.
        unlocked.delete(id);
        throw new SignerError('retired_key', `signing key ${id} (${row.fingerprint}) is retired`);
      }
      return { ...row, private_key: row.private_key };
    });
    return Promise.all(
      locked.map((row) =>
        unlocked.get(row.id, () => unlockKey(row.id, row.fingerprint, row.private_key, passphrase)),
      ),
    );
  }

  async function publicRows(keyIds: readonly number[]): Promise<PublicKeyRow[]> {
    const ids = distinctIds(keyIds);
    const rows = new Map((await listPublicKeys(db, ids)).map((row) => [row.id, row]));
    return ids.map((id) => {
      const row = rows.get(id);
      if (row === undefined) {
        throw new SignerError('unknown_key', `no signing key ${id}`);
      }
      return row;
    });
  }

  return {
    async createKey(keyOptions) {
      const userID = checkUserId(keyOptions);
      const { privateKey } = await openpgp.generateKey({
        type: 'ecc',
        curve: 'curve25519Legacy',
        userIDs: [userID],
        subkeys: [],
        format: 'object',
        config: keyConfig,
      });
      const locked = await openpgp.encryptKey({ privateKey, passphrase, config: keyConfig });
      const row = await insertSigningKey(db, {
        fingerprint: privateKey.getFingerprint().toUpperCase(),
        algorithm: 'ed25519',
        user_id: privateKey.getUserIDs()[0] ?? '',
        public_key: privateKey.toPublic().armor(),
        private_key: locked.armor(),
        created_at: privateKey.getCreationTime(),
      });
      // It is decrypted already: its first signature need not pay for the S2K.
      void unlocked.get(row.id, () => Promise.resolve(privateKey));
      return toSigningKey(row);
    },

    async getKeys(keyIds) {
      return (await publicRows(keyIds)).map(toSigningKey);
    },

    async clearsign(keyIds, text) {
      assertSignableText(text);
      const keys = await signingKeys(keyIds);
      // A text-mode (0x01) detached signature over the §7.1 text is exactly
      // the signature a cleartext message carries.
      const message = await openpgp.createMessage({ text: cleartextSignedText(text) });
      // openpgp's typings type results through @openpgp/web-stream-tools,
      // which it bundles without typings: over plain data the result is plain.
      const binarySignature = (await openpgp.sign({
        message,
        signingKeys: keys,
        detached: true,
        format: 'binary',
        config: signConfig,
      })) as Uint8Array;
      const signature = await openpgp.readSignature({ binarySignature });
      const hashes = signature.packets.map((packet) => hashName(packet.hashAlgorithm));
      return frameCleartext(text, hashes, signature.armor());
    },

    async detachSign(keyIds, data) {
      if (typeof data === 'string' && !data.isWellFormed()) {
        throw new SignerError('unsignable_text', 'text to sign contains a lone surrogate');
      }
      const keys = await signingKeys(keyIds);
      const binary = typeof data === 'string' ? new TextEncoder().encode(data) : data;
      const message = await openpgp.createMessage({ binary });
      // Typed as for clearsign: a string over plain data.
      return (await openpgp.sign({
        message,
        signingKeys: keys,
        detached: true,
        config: signConfig,
      })) as string;
    },

    async publicKeys(keyIds) {
      const keys = await Promise.all(
        (await publicRows(keyIds)).map((row) => openpgp.readKey({ armoredKey: row.public_key })),
      );
      const binary = Buffer.concat(keys.map((key) => key.write()));
      // A v4 key block carries the CRC-24 line, as `Key.armor()` writes it.
      return openpgp.armor(
        openpgp.enums.armor.publicKey,
        binary,
        undefined,
        undefined,
        undefined,
        true,
      );
    },

    async retireKey(keyId) {
      const row = await retireSigningKey(db, keyId);
      unlocked.delete(keyId);
      if (row === undefined) {
        throw new SignerError('unknown_key', `no signing key ${keyId}`);
      }
      return toSigningKey(row);
    },
  };
}

async function unlockKey(
  id: number,
  fingerprint: string,
  armoredKey: string,
  passphrase: string,
): Promise<openpgp.PrivateKey> {
  const privateKey = await openpgp.readPrivateKey({ armoredKey });
  try {
    return await openpgp.decryptKey({ privateKey, passphrase });
  } catch (error) {
    if (error instanceof Error && /incorrect key passphrase/i.test(error.message)) {
      throw new SignerError(
        'wrong_passphrase',
        `signing key ${id} (${fingerprint}) cannot be decrypted with the signing passphrase ` +
          '(--signing-passphrase, KILN_SIGNING_PASSPHRASE or <data>/signer.passphrase): ' +
          'it is not the one the key was made with',
        { cause: error },
      );
    }
    throw error;
  }
}

/** A hash algorithm's name in a `Hash` armor header (RFC 9580 §9.5): "SHA512". */
function hashName(algorithm: openpgp.enums.hash | null): string {
  if (algorithm === null) {
    throw new Error('openpgp.js made a signature without a hash algorithm');
  }
  return openpgp.enums.read(openpgp.enums.hash, algorithm).toUpperCase().replace('_', '-');
}

/** The first occurrence of each id; refuses an empty list. */
function distinctIds(keyIds: readonly number[]): number[] {
  if (keyIds.length === 0) {
    throw new SignerError('bad_request', 'no signing key given');
  }
  for (const id of keyIds) {
    if (!Number.isSafeInteger(id) || id < 1) {
      throw new SignerError('bad_request', `${String(id)} is not a signing key id`);
    }
  }
  return [...new Set(keyIds)];
}

// No control characters; no angle brackets, which delimit the address in a user id.
const namePattern = /^[^\p{Cc}<>]+$/u;
const emailPattern = /^[^\s<>@]+@[^\s<>@]+$/;

function checkUserId({ name, email }: CreateKeyOptions): openpgp.UserID {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > 200 || !namePattern.test(trimmed)) {
    throw new SignerError('bad_request', `key name ${JSON.stringify(name)} is not usable`);
  }
  if (email === undefined) {
    return { name: trimmed };
  }
  if (!emailPattern.test(email)) {
    throw new SignerError('bad_request', `key e-mail ${JSON.stringify(email)} is not an address`);
  }
  return { name: trimmed, email };
}

function toSigningKey(row: PublicKeyRow): SigningKey {
  const state: SigningKeyState = row.retired_at === null ? 'active' : 'retired';
  return {
    id: row.id,
    fingerprint: row.fingerprint,
    algorithm: row.algorithm,
    user_id: row.user_id,
    state,
    created_at: row.created_at,
    retired_at: row.retired_at,
    public_key: row.public_key,
  };
}

/**
 * Decrypted keys by id, least recently used dropped first. Decryption (the
 * S2K) costs tens of milliseconds, a signature about one. A pending decryption
 * is shared by concurrent callers; a failed one is not kept.
 */
function createKeyCache(limit: number) {
  const entries = new Map<number, Promise<openpgp.PrivateKey>>();
  return {
    get(id: number, load: () => Promise<openpgp.PrivateKey>): Promise<openpgp.PrivateKey> {
      let entry = entries.get(id);
      if (entry === undefined) {
        entry = load();
        const loading = entry;
        loading.catch(() => {
          if (entries.get(id) === loading) {
            entries.delete(id);
          }
        });
      }
      // Map keeps insertion order: re-inserting makes this entry the newest.
      entries.delete(id);
      entries.set(id, entry);
      for (const oldest of entries.keys()) {
        if (entries.size <= limit) {
          break;
        }
        entries.delete(oldest);
      }
      return entry;
    },
    delete(id: number): void {
      entries.delete(id);
    },
  };
}
