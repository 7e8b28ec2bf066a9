/** Reading the text fields of ar and tar headers from their bytes. */

/** White space as String.prototype.trim has it, among Latin-1 characters. */
export function isWhiteSpace(byte: number): boolean {
  return (byte >= 0x09 && byte <= 0x0d) || byte === 0x20 || byte === 0xa0;
}
