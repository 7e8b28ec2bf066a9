/**
 * Reading a Debian binary package (.deb, deb(5)): its control paragraph, and
 * the size and checksums APT's Packages index lists for it (apt's
 * Packages format: Size, MD5sum, SHA1, SHA256, SHA512).
 */
import { createHash, hash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { type Paragraph, Deb822Error, parseDeb822 } from './deb822.ts';
import { decompressMember, maxControlTarSize } from './decompress.ts';
import { DebFileError } from './deb-file-error.ts';
import {
  type Compression,
  type ControlCompression,
  type DebLayout,
  locateDebMembers,
} from './deb-layout.ts';
import { readTarFiles } from './tar.ts';
import { explainBadVersion } from './version.ts';

export { DebFileError } from './deb-file-error.ts';
export type { Compression, ControlCompression } from './deb-layout.ts';

/** What kiln knows of a .deb after reading it. */
export interface DebFile {
  /** The control file's paragraph (`DEBIAN/control` as built). */
  readonly control: Paragraph;
  /** The control file as stored in the package. */
  readonly controlText: string;
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
  /** `2.0`, or a later `2.x`. */
  readonly formatVersion: string;
  /** The control member's name and compression: `control.tar.xz`, `xz`. */
  readonly controlMember: string;
  readonly controlCompression: ControlCompression;
  /** The data member's name and compression: `data.tar.xz`, `xz` (its contents are not read). */
  readonly dataMember: string;
  readonly dataCompression: Compression;
  /** The whole file's size in bytes and its digests, in lower-case hex. */
  readonly size: number;
  readonly md5: string;
  readonly sha1: string;
  readonly sha256: string;
  readonly sha512: string;
}

/** What a .deb says of itself, without the file's size and digests. */
export type DebControl = Omit<DebFile, keyof Digests>;

/** Reads a .deb held in memory. Throws `DebFileError` naming what is wrong with it. */
export async function parseDeb(bytes: Uint8Array): Promise<DebFile> {
  return {
    ...(await parseDebControl(bytes)),
    size: bytes.length,
    md5: hash('md5', bytes, 'hex'),
    sha1: hash('sha1', bytes, 'hex'),
    sha256: hash('sha256', bytes, 'hex'),
    sha512: hash('sha512', bytes, 'hex'),
  };
}

/**
 * Reads the control data of a .deb held in memory, for a caller that has the
 * digests it needs already (a content-addressed store knows the sha256).
 * Throws `DebFileError` naming what is wrong with the package.
 */
export async function parseDebControl(bytes: Uint8Array): Promise<DebControl> {
  const layout = locateDebMembers(bytes, bytes.length);
  if (typeof layout === 'number') {
    throw new Error('unreachable: a whole file is never too short to locate its members');
  }
  return describeDeb(bytes, layout);
}

/** Files up to this size `readDebFile` reads whole, with one read; larger ones it streams. */
export const wholeFileLimit = 1024 * 1024;

/**
 * Reads a .deb file. A large one is read once from start to end for its
 * digests, and only its first members are kept in memory. Throws
 * `DebFileError` for a malformed package, and the file system's error when
 * the file cannot be read.
 */
export async function readDebFile(
  path: string,
  options: { readonly signal?: AbortSignal } = {},
): Promise<DebFile> {
  options.signal?.throwIfAborted();
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size <= wholeFileLimit) {
      return await parseDeb(await readAt(handle, 0, size));
    }
    const control = await readDebControlAt(
      (position, length) => readAt(handle, position, length),
      size,
      options.signal,
    );
    const digests = await hashFile(handle, options.signal);
    if (digests.size !== size) {
      throw new DebFileError(
        `the file changed size while it was read (${size}, then ${digests.size})`,
      );
    }
    return { ...control, ...digests };
  } finally {
    await handle.close();
  }
}

/**
 * The most of a large .deb's first bytes read for its control data: a
 * control member as large as a control.tar may expand to (compressing makes
 * it smaller), and room for the members' headers. Beyond that the package is
 * refused rather than held: a member declared gigabytes long would be.
 */
export const maxHeadSize = maxControlTarSize + 64 * 1024;

/** Reads `length` bytes of a .deb from `position`. */
export type ReadDebBytes = (position: number, length: number) => Promise<Uint8Array>;

/**
 * Reads the control data of a .deb of `size` bytes from its first bytes
 * only, asking `readAt` for as many as its members' headers need: a large
 * package's data member is never read. Throws `DebFileError` for a malformed
 * package.
 */
export async function readDebControlAt(
  readAt: ReadDebBytes,
  size: number,
  signal?: AbortSignal,
): Promise<DebControl> {
  let head: Uint8Array = new Uint8Array(0);
  let layout = locateDebMembers(head, size);
  while (typeof layout === 'number') {
    signal?.throwIfAborted();
    if (layout > maxHeadSize) {
      throw new DebFileError(
        `the members before data.tar take more than ${maxHeadSize} bytes; kiln reads up to that`,
      );
    }
    // Read ahead: the next member's header usually follows closely.
    head = await readAt(0, Math.min(size, Math.max(layout, 64 * 1024)));
    layout = locateDebMembers(head, size);
  }
  return describeDeb(head, layout);
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(length);
  const { bytesRead } = await handle.read(bytes, 0, length, position);
  if (bytesRead !== length) {
    throw new DebFileError(`the file shrank while it was read (to ${position + bytesRead} bytes)`);
  }
  return bytes;
}

type Digests = Pick<DebFile, 'size' | 'md5' | 'sha1' | 'sha256' | 'sha512'>;

const chunkSize = 1024 * 1024;

/** The file's size and digests, from one read from start to end. */
async function hashFile(handle: FileHandle, signal: AbortSignal | undefined): Promise<Digests> {
  const hashes = (['md5', 'sha1', 'sha256', 'sha512'] as const).map((a) => createHash(a));
  const buffer = Buffer.allocUnsafe(chunkSize);
  let size = 0;
  for (;;) {
    signal?.throwIfAborted();
    const { bytesRead } = await handle.read(buffer, 0, chunkSize, size);
    if (bytesRead === 0) {
      break;
    }
    for (const h of hashes) {
      h.update(buffer.subarray(0, bytesRead));
    }
    size += bytesRead;
  }
  const [md5, sha1, sha256, sha512] = hashes.map((h) => h.digest('hex'));
  return { size, md5: md5 ?? '', sha1: sha1 ?? '', sha256: sha256 ?? '', sha512: sha512 ?? '' };
}

async function describeDeb(head: Uint8Array, layout: DebLayout): Promise<DebControl> {
  const { control: member, controlCompression } = layout;
  const tar = await decompressMember(
    head.subarray(member.dataOffset, member.dataOffset + member.size),
    controlCompression,
    member.name,
  );
  const file = readTarFiles(tar, member.name).find((f) => f.path === 'control');
  if (file === undefined) {
    throw new DebFileError(`${member.name} has no control file`);
  }
  if (file.data.length > maxControlFileSize) {
    throw new DebFileError(
      `the control file is ${file.data.length} bytes; kiln reads control files of up to ${maxControlFileSize}`,
    );
  }
  const controlText = decodeControl(file.data);
  const control = parseControl(controlText);
  return Object.freeze({
    control,
    controlText,
    package: requireField(control, 'Package', packageProblem),
    version: requireField(control, 'Version', explainBadVersion),
    architecture: requireField(control, 'Architecture', architectureProblem),
    formatVersion: layout.formatVersion,
    controlMember: member.name,
    controlCompression,
    dataMember: layout.data.name,
    dataCompression: layout.dataCompression,
  });
}

/**
 * The largest control file kiln reads: it becomes the package's Packages
 * stanza, which every client downloads. Debian's largest are tens of KB (long
 * Provides, Built-Using and Description fields). A few KB of gzip can expand
 * to tens of MB of control file, which would be held as one string (beyond
 * the .deb reading threads' heap) and served in every Packages file.
 */
export const maxControlFileSize = 1024 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Policy §5.1: control files are UTF-8. */
function decodeControl(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch (error) {
    throw new DebFileError('the control file is not valid UTF-8', { cause: error });
  }
}

function parseControl(text: string): Paragraph {
  let paragraphs: Paragraph[];
  try {
    paragraphs = parseDeb822(text);
  } catch (error) {
    if (error instanceof Deb822Error) {
      throw new DebFileError(`the control file is malformed: ${error.message}`, { cause: error });
    }
    throw error;
  }
  const [paragraph, ...rest] = paragraphs;
  if (paragraph === undefined) {
    throw new DebFileError('the control file is empty');
  }
  if (rest.length > 0) {
    throw new DebFileError(
      `the control file has ${paragraphs.length} paragraphs; a binary package's has one`,
    );
  }
  return paragraph;
}

function requireField(
  control: Paragraph,
  name: string,
  problem: (value: string) => string | undefined,
): string {
  const value = control.get(name);
  if (value === undefined || value === '') {
    throw new DebFileError(`the control file has no ${name} field`);
  }
  const why = value.includes('\n') ? 'it spans several lines' : problem(value);
  if (why !== undefined) {
    throw new DebFileError(
      `the control file's ${name} ${JSON.stringify(value.slice(0, 80))} is invalid: ${why}`,
    );
  }
  return value;
}

/** Policy §5.6.1. */
function packageProblem(name: string): string | undefined {
  return /^[a-z0-9][a-z0-9+.-]+$/.test(name)
    ? undefined
    : 'a package name is two or more of a-z 0-9 + - . starting with a letter or digit';
}

/** Policy §5.6.8: one architecture name (`amd64`, `all`, `hurd-i386`). */
function architectureProblem(name: string): string | undefined {
  return /^[a-z0-9][a-z0-9-]*$/.test(name)
    ? undefined
    : 'an architecture is one name of a-z 0-9 and -';
}
