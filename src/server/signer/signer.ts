/**
 * The signer (DESIGN.md: "holds private keys and signs on request; never hands
 * a private key out"; Copr calls it keygen). Repository code asks it for keys
 * and signatures by key id and never sees key material: no method takes or
 * returns a private key, and nothing it returns contains one.
 *
 * Key ids name keys this signer made; a list of them is taken as each key
 * once, in the order first named. Every method may reject with a
 * {@link SignerError}.
 *
 * ## Rotating a repository's key
 *
 * Create the new key and publish both public keys (`publicKeys([old, new])`)
 * so clients can add the new one to their `signed-by` keyring; sign with both
 * (`clearsign([old, new], ...)` gives one signature per key, and apt accepts a
 * file when any one signature is good and from a key it trusts); once clients
 * have switched, sign with the new key only and `retireKey(old)`.
 *
 * ## Other implementations
 *
 * `openpgp-signer.ts` keeps keys in kiln's database, encrypted with a
 * passphrase. The same interface fits a signer whose keys never enter kiln's
 * process at all; the composition root picks one:
 *
 * - gpg: `createKey` runs `gpg --batch --quick-gen-key 'name <email>' ed25519
 *   sign never` in a GNUPGHOME owned by the signer, reads the fingerprint from
 *   `--with-colons` output and records it with the public key in
 *   `signing_keys` (no private key column value: the key lives in gpg-agent).
 *   `detachSign` is `gpg --detach-sign --armor --local-user FPR!` per key (the
 *   `!` stops gpg picking a subkey), outputs concatenated into one armor
 *   block. `clearsign` must not use `gpg --clearsign`: gpg drops the text's
 *   last line ending and strips trailing blanks when it writes the message, so
 *   the text would not come back byte for byte. It signs
 *   `cleartextSignedText(text)` with `gpg --detach-sign --textmode` and frames
 *   the result with `frameCleartext` (`cleartext.ts`), as the openpgp.js
 *   signer does.
 * - An HSM over PKCS#11: `createKey` asks the token for an Ed25519 pair
 *   (`CKM_EC_EDWARDS_KEY_PAIR_GEN`, `CKA_SENSITIVE` true, `CKA_EXTRACTABLE`
 *   false) and builds the OpenPGP v4 public key packet, user id and
 *   self-signature around the public point itself. Signing stays OpenPGP
 *   packet work in kiln: hash the data and the signature's hashed subpackets
 *   (RFC 4880 §5.2.4) and have the token sign only that digest with
 *   `CKM_EDDSA` (a v4 EdDSA signature signs the digest as its message, RFC
 *   9580 §5.2.3.3). Only 64-byte signatures cross the PKCS#11 boundary.
 * - A remote signer (Copr's keygen, obs-signd): the same four calls over a
 *   socket. Every method is async so that any of these fits.
 *
 * Whatever the backend, the outputs must be what apt reads: v4 keys and
 * signatures (Debian 12's gpgv refuses v6), armored, LF line endings.
 */
export interface Signer {
  /** Makes a new signing key, held by the signer; it can sign at once. */
  createKey(options: CreateKeyOptions): Promise<SigningKey>;

  /** The keys' public facts; `unknown_key` if one is not the signer's. */
  getKeys(keyIds: readonly number[]): Promise<readonly SigningKey[]>;

  /**
   * `text` as an OpenPGP cleartext-signed message (RFC 4880 §7), one
   * signature per key: an APT `InRelease` file. The message has LF line
   * endings; the signed text, read back as §7 says (apt's
   * `SplitClearSignedFile` does), is `text` byte for byte, last line ending
   * included. As §7.1 requires, blanks at line ends are kept in the message
   * but not covered by the signatures. Refuses (`unsignable_text`) text with
   * a carriage return or a lone surrogate, which could not come back unchanged.
   */
  clearsign(keyIds: readonly number[], text: string): Promise<string>;

  /**
   * An armored detached signature of `data` (a string is signed as its UTF-8
   * bytes), one signature per key, in binary mode (signature type 0x00: the
   * bytes as they are): an APT `Release.gpg` file.
   */
  detachSign(keyIds: readonly number[], data: string | Uint8Array): Promise<string>;

  /**
   * The keys' public keys in one armored block (`gpg --dearmor` makes a
   * keyring of it for apt's `signed-by`). Retired keys are included: old
   * publications stay verifiable.
   */
  publicKeys(keyIds: readonly number[]): Promise<string>;

  /**
   * Retires a key: it never signs again and the signer deletes its private
   * part; its public facts remain. Retiring a retired key changes nothing.
   */
  retireKey(keyId: number): Promise<SigningKey>;
}

export interface CreateKeyOptions {
  /** The name in the key's user id, e.g. "kiln repository demo/main". */
  readonly name: string;
  readonly email?: string | undefined;
}

export type SigningKeyState = 'active' | 'retired';

/** What anyone may know of a signing key. */
export interface SigningKey {
  readonly id: number;
  /** The OpenPGP v4 fingerprint: 40 upper-case hex digits. */
  readonly fingerprint: string;
  /** The public-key algorithm, named as gpg and apt's `Assert-Pubkey-Algo` name it (`ed25519`). */
  readonly algorithm: string;
  /** The key's user id, `name <email>`. */
  readonly user_id: string;
  readonly state: SigningKeyState;
  /** The key's creation time, as recorded in the key itself. */
  readonly created_at: Date;
  readonly retired_at: Date | null;
  /** The armored public key (a "PGP PUBLIC KEY BLOCK"). */
  readonly public_key: string;
}

export type SignerErrorCode =
  /** An empty list of keys, or a key name the key format cannot carry. */
  | 'bad_request'
  /** A key id the signer does not have. */
  | 'unknown_key'
  /** A retired key was asked to sign. */
  | 'retired_key'
  /** A stored key cannot be decrypted with the signer's passphrase. */
  | 'wrong_passphrase'
  /** Text that a cleartext signature cannot carry unchanged. */
  | 'unsignable_text';

/**
 * A signer's refusal, with a stable code. Signing is server-side work: callers
 * map these to their own errors (to a client, all but `bad_request` and
 * `unsignable_text` are the server's fault).
 */
export class SignerError extends Error {
  override readonly name = 'SignerError';
  readonly code: SignerErrorCode;

  constructor(code: SignerErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
