import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Keeps secrets the server must read back (webhook HMAC keys, a forge's
 * token), unlike token secrets, which are only ever compared and so stored
 * hashed. Sealed with AES-256-GCM (NIST SP 800-38D: 96-bit random nonce,
 * 128-bit tag) under a key derived with HKDF (RFC 5869) from the signer's
 * passphrase, which every replica sharing the database already has: a copy of
 * the database alone reveals no secret.
 */
export interface SecretBox {
  seal(secret: string): string;
  /** The secret, or throws when the sealed text was not made under this key. */
  open(sealed: string): string;
}

const version = 'v1';

export function createSecretBox(passphrase: string): SecretBox {
  const key = Buffer.from(hkdfSync('sha256', passphrase, 'kiln', 'kiln secret box v1', 32));
  return {
    seal(secret) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
      return [version, nonce, cipher.getAuthTag(), sealed]
        .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
        .join('.');
    },
    open(text) {
      const [v, nonce, tag, sealed] = text.split('.');
      if (v !== version || nonce === undefined || tag === undefined || sealed === undefined) {
        throw new Error('not a sealed secret');
      }
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(nonce, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([
        decipher.update(Buffer.from(sealed, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    },
  };
}
