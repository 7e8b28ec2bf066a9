import { SignerError } from './signer.ts';

/**
 * The text handling of OpenPGP's cleartext signature framework (RFC 4880 §7),
 * apart from the cryptography, so that any signer backend frames messages the
 * same way: sign `cleartextSignedText(text)` in text mode (signature type
 * 0x01, which hashes each LF as CR LF), then `frameCleartext`.
 *
 * openpgp.js's own `CleartextMessage` is not used for the output because it
 * writes CR LF line endings into the message and drops blanks at line ends
 * from the text, so the text would not come back as it went in.
 */

/** Refuses text that a cleartext-signed message cannot give back unchanged. */
export function assertSignableText(text: string): void {
  // §7.1 makes every line ending CR LF for the signature, so a CR in the text
  // cannot be told apart from the line ending that follows it.
  if (text.includes('\r')) {
    throw new SignerError('unsignable_text', 'text to clearsign contains a carriage return');
  }
  // A lone surrogate has no UTF-8 form: it would be written as U+FFFD.
  if (!text.isWellFormed()) {
    throw new SignerError('unsignable_text', 'text to clearsign contains a lone surrogate');
  }
}

/**
 * The text a cleartext signature covers (RFC 4880 §7.1): `text` with spaces
 * and tabs at line ends removed. Verifiers (gpgv, openpgp.js) remove them in the
 * same way before checking, so the message may keep them.
 */
export function cleartextSignedText(text: string): string {
  // A loop, not /[ \t]+$/gm, which backtracks quadratically over long blank runs.
  return text
    .split('\n')
    .map((line) => {
      let end = line.length;
      while (end > 0 && (line[end - 1] === ' ' || line[end - 1] === '\t')) {
        end -= 1;
      }
      return end === line.length ? line : line.slice(0, end);
    })
    .join('\n');
}

/**
 * The cleartext-signed message: `text` dash-escaped (§7.1: a line starting
 * with "-" gets "- " in front), LF line endings, then the signatures.
 *
 * The line ending before "-----BEGIN PGP SIGNATURE-----" is not part of the
 * signed text (§7), so one is always added: a `text` ending in LF keeps that
 * LF, and "a\n" and "a" give different messages. (`gpg --clearsign` instead
 * drops the text's last line ending.)
 *
 * @param hashes the signatures' hash algorithms as §7 names them ("SHA512"),
 *   for the `Hash` armor header
 * @param armoredSignature a "PGP SIGNATURE" block of text-mode signatures
 *   over `cleartextSignedText(text)`, with LF line endings
 */
export function frameCleartext(
  text: string,
  hashes: readonly string[],
  armoredSignature: string,
): string {
  const hashHeader = [...new Set(hashes)].join(',');
  return (
    `-----BEGIN PGP SIGNED MESSAGE-----\nHash: ${hashHeader}\n\n` +
    `${text.replace(/^-/gm, '- -')}\n${armoredSignature}`
  );
}
