import {
  closeSync,
  fsyncSync,
  openSync,
  readSync,
  statSync,
  unlinkSync,
  write,
  writeSync,
} from 'node:fs';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';

/**
 * The records of a content pack's log (`<name>.idx`, see content-packs.ts):
 * 64 bytes each, so that any process can append one with a single write and
 * a reader takes whole records only. Bytes 0-31 the content's sha256, 32-37
 * its offset in the pack, 38-43 its size (little-endian), 44 the kind, 60-63
 * the CRC-32 of bytes 0-59.
 */
export const recordBytes = 64;
export const added = 1;
export const removed = 2;
export const sealed = 3;

export interface PackRecord {
  readonly kind: number;
  readonly sha256: string;
  readonly offset: number;
  readonly size: number;
}

export function encodeRecord(
  kind: number,
  sha256: string | undefined,
  offset: number,
  size: number,
): Buffer {
  return encodeRecords(kind, [{ sha256, offset, size }]);
}

/**
 * Records of one kind end to end, made in one buffer: a batch of thousands
 * of contents is recorded with one write, and a buffer each cost more than
 * the encoding.
 */
export function encodeRecords(
  kind: number,
  places: readonly { sha256: string | undefined; offset: number; size: number }[],
): Buffer {
  const records = Buffer.alloc(recordBytes * places.length);
  for (const [i, { sha256, offset, size }] of places.entries()) {
    const at = i * recordBytes;
    if (sha256 !== undefined) {
      records.write(sha256, at, 32, 'hex');
    }
    records.writeUIntLE(offset, at + 32, 6);
    records.writeUIntLE(size, at + 38, 6);
    records[at + 44] = kind;
    records.writeUInt32LE(crc32(records.subarray(at, at + 60)), at + 60);
  }
  return records;
}

/** The record, or undefined if its checksum does not match (torn by a crash). */
export function decodeRecord(record: Buffer): PackRecord | undefined {
  if (record.readUInt32LE(60) !== crc32(record.subarray(0, 60))) {
    return undefined;
  }
  return {
    kind: record[44] ?? 0,
    sha256: record.toString('hex', 0, 32),
    offset: record.readUIntLE(32, 6),
    size: record.readUIntLE(38, 6),
  };
}

const writeAsync = promisify(write);

/** Appends all of `bytes` to a file opened with O_APPEND. */
export async function appendFully(fd: number, bytes: Buffer): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    const { bytesWritten } = await writeAsync(fd, bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

export function readFully(fd: number, into: Buffer, position: number): void {
  for (let done = 0; done < into.length;) {
    const read = readSync(fd, into, done, into.length - done, position + done);
    if (read === 0) {
      throw new Error(`a content pack is shorter than its index says (at ${position + done})`);
    }
    done += read;
  }
}

export function writeFully(fd: number, content: Buffer, position: number): void {
  for (let done = 0; done < content.length;) {
    done += writeSync(fd, content, done, content.length - done, position + done);
  }
}

export function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch (error) {
    if (isMissing(error)) {
      return undefined;
    }
    throw error;
  }
}

export function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (!isMissing(error)) {
      throw error;
    }
  }
}

export function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}
