import { createHash, randomBytes } from 'node:crypto';

export type TokenKind = 'personal' | 'enrolment' | 'worker' | 'task';

const prefixes: Readonly<Record<TokenKind, string>> = {
  personal: 'kiln_p_',
  enrolment: 'kiln_e_',
  worker: 'kiln_w_',
  task: 'kiln_t_',
};

/**
 * A new token secret: a prefix naming its kind (so a leaked token is easy to
 * recognise in logs and by secret scanners) and 256 random bits.
 */
export function generateTokenSecret(kind: TokenKind): string {
  return prefixes[kind] + randomBytes(32).toString('base64url');
}

/**
 * The stored form of a token. Secrets carry 256 bits of entropy, so one sha256
 * is enough; unlike passwords they need no slow hash.
 */
export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
