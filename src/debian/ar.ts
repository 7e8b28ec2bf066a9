/**
 * The ar archive format that holds a .deb's members (deb(5), ar(5)): the
 * signature `!<arch>\n`, then members, each a 60-byte header and its data,
 * padded with `\n` to an even length. Only what a .deb uses is read: no
 * symbol tables, no GNU or BSD long-name tables.
 */
import { DebFileError } from './deb-file-error.ts';

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
  const header = Buffer.from(bytes.buffer, bytes.byteOffset + offset, arHeaderSize);
  let name = header.toString('latin1', 0, 16).trimEnd();
  if (name.endsWith('/') && name.length > 1) {
    name = name.slice(0, -1);
  }
  if (header[58] !== 0x60 || header[59] !== 0x0a) {
    throw new DebFileError(
      `ar member header at byte ${offset} is corrupt: it does not end with the magic "\`\\n"`,
    );
  }
  const sizeText = header.toString('latin1', 48, 58).trim();
  if (!/^[0-9]+$/.test(sizeText)) {
    throw new DebFileError(
      `ar member ${JSON.stringify(name)} at byte ${offset} has a malformed size ${JSON.stringify(sizeText)}`,
    );
  }
  const size = Number(sizeText);
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
