/**
 * A minimal tar reader for the few entries of a .deb's control.tar: ustar
 * (POSIX.1-1988), GNU (`L` long names) and pax (POSIX.1-2001 `x` headers)
 * archives, as dpkg-deb and GNU tar write them. Only regular files are
 * returned; links, directories and devices are skipped.
 */
import { DebFileError } from './deb-file-error.ts';

const blockSize = 512;

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
  let pax = new Map<string, string>();
  for (let offset = 0; offset + blockSize <= bytes.length;) {
    const header = bytes.subarray(offset, offset + blockSize);
    if (isZeroBlock(header)) {
      break;
    }
    checkChecksum(header, offset, label);
    const paxSize = pax.get('size');
    const size =
      paxSize !== undefined && /^[0-9]+$/.test(paxSize)
        ? Number(paxSize)
        : readNumber(header, 124, 12, offset, label);
    const start = offset + blockSize;
    const path = normalizePath(pax.get('path') ?? longName ?? headerPath(header));
    if (start + size > bytes.length) {
      throw new DebFileError(
        `${label}: entry ${JSON.stringify(path)} is truncated: it declares ${size} bytes but the archive ends ${bytes.length - start} bytes after its header`,
      );
    }
    const data = bytes.subarray(start, start + size);
    const type = String.fromCharCode(header[156] ?? 0);
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
      pax = new Map();
    }
    offset = start + Math.ceil(size / blockSize) * blockSize;
  }
  return files;
}

function isZeroBlock(block: Uint8Array): boolean {
  for (const byte of block) {
    if (byte !== 0) {
      return false;
    }
  }
  return true;
}

/** The header checksum: the byte sum with the checksum field read as spaces (ustar). */
function checkChecksum(header: Buffer, offset: number, label: string): void {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < blockSize; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
    unsigned += byte;
    signed += byte < 0x80 ? byte : byte - 0x100;
  }
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
    const text = header.toString('latin1', start, start + length).replace(/[\0 ]+$/, '');
    const digits = text.trimStart();
    if (/^[0-7]+$/.test(digits)) {
      return parseInt(digits, 8);
    }
  }
  throw new DebFileError(`${label}: the tar header at byte ${offset} has a malformed number`);
}

/** The name of a ustar header: `prefix/name` when the POSIX prefix field is used. */
function headerPath(header: Buffer): string {
  const name = cString(header.subarray(0, 100));
  // The prefix field exists only in POSIX ustar (`ustar\0`); GNU tar (`ustar  \0`) puts other fields there.
  const posix = header.toString('latin1', 257, 263) === 'ustar\0';
  const prefix = posix ? cString(header.subarray(345, 500)) : '';
  return prefix === '' ? name : `${prefix}/${name}`;
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
