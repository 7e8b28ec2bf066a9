/**
 * A minimal tar reader for the few entries of a .deb's control.tar: ustar
 * (POSIX.1-1988), GNU (`L` long names) and pax (POSIX.1-2001 `x` headers)
 * archives, as dpkg-deb and GNU tar write them. Only regular files are
 * returned; links, directories and devices are skipped.
 */
import { DebFileError } from './deb-file-error.ts';
import { isWhiteSpace } from './header-bytes.ts';

const blockSize = 512;

/**
 * The largest GNU long name and pax header read: a path is at most a few KB
 * (PATH_MAX), a control.tar's pax headers hold a path or two. Read whole,
 * tens of MB of either (a few KB of gzip) would be held as strings, beyond
 * a .deb reading thread's heap.
 */
export const maxLongNameSize = 64 * 1024;
export const maxPaxHeaderSize = 1024 * 1024;
/** The entries read whole into strings, by type, with their limits. */
const readWholeUpTo: ReadonlyMap<string, { what: string; limit: number }> = new Map([
  ['L', { what: 'long name', limit: maxLongNameSize }],
  ['x', { what: 'pax header', limit: maxPaxHeaderSize }],
]);
/** `ustar\0`: the magic of a POSIX ustar header (GNU tar writes `ustar  \0`). */
const ustarMagic = [0x75, 0x73, 0x74, 0x61, 0x72, 0x00];

/** A regular file in a tar archive. */
export interface TarFile {
  /** The path without a leading `./` or `/`: `./control` is `control`. */
  readonly path: string;
  /** The file's contents: a view into the archive, not a copy. */
  readonly data: Uint8Array;
}

/**
 * The regular files of a tar archive, in archive order. `label` names the
 * archive in error messages. Throws `DebFileError` for a header whose checksum
 * or numbers are wrong, an entry that runs past the end, or a malformed pax
 * header. A missing end-of-archive marker is not an error (GNU tar accepts it too).
 */
export function readTarFiles(tar: Uint8Array, label: string): TarFile[] {
  const bytes = Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength);
  const files: TarFile[] = [];
  let longName: string | undefined;
  // Made only for the entries a pax header precedes.
  let pax: Map<string, string> | undefined;
  for (let offset = 0; offset + blockSize <= bytes.length;) {
    const header = bytes.subarray(offset, offset + blockSize);
    if (isZeroBlock(header)) {
      break;
    }
    checkChecksum(header, offset, label);
    const paxSize = pax?.get('size');
    const size =
      paxSize !== undefined && /^[0-9]+$/.test(paxSize)
        ? Number(paxSize)
        : readNumber(header, 124, 12, offset, label);
    const start = offset + blockSize;
    const path = normalizePath(pax?.get('path') ?? longName ?? headerPath(header));
    if (start + size > bytes.length) {
      throw new DebFileError(
        `${label}: entry ${JSON.stringify(path)} is truncated: it declares ${size} bytes but the archive ends ${bytes.length - start} bytes after its header`,
      );
    }
    const data = bytes.subarray(start, start + size);
    const type = String.fromCharCode(header[156] ?? 0);
    const limited = readWholeUpTo.get(type);
    if (limited !== undefined && size > limited.limit) {
      throw new DebFileError(
        `${label}: the ${limited.what} at byte ${offset} is ${size} bytes; kiln reads up to ${limited.limit}`,
      );
    }
    if (type === 'L') {
      longName = cString(data);
    } else if (type === 'x') {
      pax = readPaxRecords(data, label);
    } else if (type !== 'K' && type !== 'g') {
      // A regular file is `0`, or NUL in pre-POSIX archives; `7` is a contiguous file.
      if (type === '0' || type === '\0' || type === '7') {
        files.push({ path, data });
      }
      longName = undefined;
      pax = undefined;
    }
    offset = start + Math.ceil(size / blockSize) * blockSize;
  }
  return files;
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) {
    if (block[i] !== 0) {
      return false;
    }
  }
  return true;
}

/** The header checksum: the byte sum with the checksum field read as spaces (ustar). */
function checkChecksum(header: Buffer, offset: number, label: string): void {
  // Every byte summed, then the checksum field's taken back out and counted as spaces.
  let unsigned = 0;
  let high = 0;
  for (let i = 0; i < blockSize; i++) {
    const byte = header[i] ?? 0;
    unsigned += byte;
    high += byte >>> 7;
  }
  for (let i = 148; i < 156; i++) {
    const byte = header[i] ?? 0;
    unsigned += 0x20 - byte;
    high -= byte >>> 7;
  }
  // Signed chars: each byte from 0x80 up counts 256 less.
  const signed = unsigned - 0x100 * high;
  const stored = readNumber(header, 148, 8, offset, label);
  // Some old tars summed signed chars; GNU tar accepts both, so do we.
  if (stored !== unsigned && stored !== signed) {
    throw new DebFileError(`${label}: the tar header at byte ${offset} has a bad checksum`);
  }
}

/**
 * A numeric header field: octal digits ended by NUL or space, or GNU's
 * base-256 form (high bit of the first byte set) for values that do not fit.
 */
function readNumber(
  header: Buffer,
  start: number,
  length: number,
  offset: number,
  label: string,
): number {
  const first = header[start] ?? 0;
  if (first & 0x80) {
    let value = first === 0x80 ? 0 : Number.NaN;
    for (let i = start + 1; i < start + length; i++) {
      value = value * 256 + (header[i] ?? 0);
    }
    if (Number.isSafeInteger(value)) {
      return value;
    }
  } else {
    // Octal digits, after any leading white space and before trailing NULs and spaces.
    let end = start + length;
    while (end > start && (header[end - 1] === 0 || header[end - 1] === 0x20)) {
      end--;
    }
    let at = start;
    while (at < end && isWhiteSpace(header[at] ?? 0)) {
      at++;
    }
    let value = 0;
    for (let i = at; i < end; i++) {
      const digit = (header[i] ?? 0) - 0x30;
      if (digit < 0 || digit > 7) {
        value = Number.NaN;
        break;
      }
      value = value * 8 + digit;
    }
    if (at < end && !Number.isNaN(value)) {
      return value;
    }
  }
  throw new DebFileError(`${label}: the tar header at byte ${offset} has a malformed number`);
}

/** The name of a ustar header: `prefix/name` when the POSIX prefix field is used. */
function headerPath(header: Buffer): string {
  const name = fieldString(header, 0, 100);
  // The prefix field exists only in POSIX ustar (`ustar\0`); GNU tar (`ustar  \0`) puts other fields there.
  const posix = ustarMagic.every((byte, i) => header[257 + i] === byte);
  const prefix = posix ? fieldString(header, 345, 155) : '';
  return prefix === '' ? name : `${prefix}/${name}`;
}

/** The text of a NUL-terminated header field of `length` bytes from `start`. */
function fieldString(header: Buffer, start: number, length: number): string {
  let end = start;
  while (end < start + length && header[end] !== 0) {
    end++;
  }
  return header.toString('utf8', start, end);
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.buffer, bytes.byteOffset, end === -1 ? bytes.length : end).toString(
    'utf8',
  );
}

function normalizePath(path: string): string {
  return path.replace(/^(?:\.?\/)+/, '');
}

/** pax extended header records (POSIX.1-2001 `pax`): `<length> <key>=<value>\n`. */
function readPaxRecords(data: Buffer, label: string): Map<string, string> {
  const records = new Map<string, string>();
  for (let at = 0; at < data.length;) {
    const space = data.indexOf(0x20, at);
    const lengthText = space === -1 ? '' : data.toString('latin1', at, space);
    const length = Number(lengthText);
    const end = at + length;
    if (
      !/^[0-9]+$/.test(lengthText) ||
      end > data.length ||
      end <= space + 1 ||
      data[end - 1] !== 0x0a
    ) {
      if (data[at] === 0) {
        break; // NUL padding after the last record
      }
      throw new DebFileError(`${label}: malformed pax header record at byte ${at}`);
    }
    const record = data.toString('utf8', space + 1, end - 1);
    const equals = record.indexOf('=');
    if (equals <= 0) {
      throw new DebFileError(`${label}: malformed pax header record at byte ${at}`);
    }
    records.set(record.slice(0, equals), record.slice(equals + 1));
    at = end;
  }
  return records;
}
