/**
 * The ar archive format that holds a .deb's members (deb(5), ar(5)): the
 * signature `!<arch>\n`, then members, each a 60-byte header and its data,
 * padded with `\n` to an even length. Only what a .deb uses is read: no
 * symbol tables, no GNU or BSD long-name tables.
 */
import { DebFileError } from './deb-file-error.ts';
import { isWhiteSpace } from './header-bytes.ts';

export const arSignature = '!<arch>\n';
export const arHeaderSize = 60;

/** One member's header, located in the archive. */
export interface ArMember {
  /** The name without its padding (and without the trailing `/` GNU ar writes). */
  readonly name: string;
  readonly headerOffset: number;
  readonly dataOffset: number;
  readonly size: number;
  /** Where the next header starts: the data padded to an even length. */
  readonly nextOffset: number;
}

/** Whether the bytes start with the ar signature. */
export function hasArSignature(bytes: Uint8Array): boolean {
  if (bytes.length < arSignature.length) {
    return false;
  }
  for (let i = 0; i < arSignature.length; i++) {
    if (bytes[i] !== arSignature.charCodeAt(i)) {
      return false;
    }
  }
  return true;
}

/**
 * Reads the member header at `offset`. `bytes` must hold its 60 bytes; the
 * archive is `archiveSize` bytes long (`bytes` may be only its beginning).
 * Throws `DebFileError` for a header that is cut off, malformed, or declares
 * more data than the archive holds.
 */
export function readArHeader(bytes: Uint8Array, offset: number, archiveSize: number): ArMember {
  if (offset + arHeaderSize > archiveSize) {
    throw new DebFileError(
      `ar member header at byte ${offset} is truncated: the file ends ${archiveSize - offset} bytes into it`,
    );
  }
  // Read from the bytes, not through strings: every .deb an include adds has three headers.
  let nameEnd = offset + 16;
  while (nameEnd > offset && isWhiteSpace(bytes[nameEnd - 1] ?? 0)) {
    nameEnd--;
  }
  if (nameEnd - offset > 1 && bytes[nameEnd - 1] === 0x2f /* / */) {
    nameEnd--;
  }
  const name = latin1(bytes, offset, nameEnd);
  if (bytes[offset + 58] !== 0x60 || bytes[offset + 59] !== 0x0a) {
    throw new DebFileError(
      `ar member header at byte ${offset} is corrupt: it does not end with the magic "\`\\n"`,
    );
  }
  const size = decimalField(bytes, offset + 48, offset + 58);
  if (size === undefined) {
    const sizeText = latin1(bytes, offset + 48, offset + 58).trim();
    throw new DebFileError(
      `ar member ${JSON.stringify(name)} at byte ${offset} has a malformed size ${JSON.stringify(sizeText)}`,
    );
  }
  const dataOffset = offset + arHeaderSize;
  if (dataOffset + size > archiveSize) {
    throw new DebFileError(
      `ar member ${JSON.stringify(name)} is truncated: it declares ${size} bytes but the file ends ${archiveSize - dataOffset} bytes after its header`,
    );
  }
  return {
    name,
    headerOffset: offset,
    dataOffset,
    size,
    nextOffset: dataOffset + size + (size % 2),
  };
}

/** Bytes from `start` to `end` as Latin-1 text. */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
}

/**
 * The decimal number in a space-padded field from `start` to `end` (white
 * space around the digits allowed, as `trim` has it), or undefined when the
 * field holds anything else or nothing.
 */
function decimalField(bytes: Uint8Array, start: number, end: number): number | undefined {
  let first = start;
  let last = end;
  while (first < last && isWhiteSpace(bytes[first] ?? 0)) {
    first++;
  }
  while (last > first && isWhiteSpace(bytes[last - 1] ?? 0)) {
    last--;
  }
  if (first === last) {
    return undefined;
  }
  let value = 0;
  for (let i = first; i < last; i++) {
    const digit = (bytes[i] ?? 0) - 0x30;
    if (digit < 0 || digit > 9) {
      return undefined;
    }
    value = value * 10 + digit;
  }
  return value;
}
