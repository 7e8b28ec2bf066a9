/**
 * Where a .deb's members are (deb(5)): `debian-binary`, then `control.tar`,
 * then `data.tar`, in that order; members whose names start with `_` may
 * stand between them and are skipped; members after `data.tar` are ignored.
 */
import { type ArMember, arHeaderSize, arSignature, hasArSignature, readArHeader } from './ar.ts';
import { DebFileError } from './deb-file-error.ts';

/** The compressions a member may use, named by its file name's extension. */
export type Compression = 'gzip' | 'xz' | 'zstd' | 'bzip2' | 'lzma' | 'none';
/** dpkg-deb writes control.tar with gzip, xz, zstd or nothing (deb(5)). */
export type ControlCompression = Extract<Compression, 'gzip' | 'xz' | 'zstd' | 'none'>;

/** The members of a .deb that kiln reads, located in the file. */
export interface DebLayout {
  /** The format version in `debian-binary`: `2.0`, or a later `2.x`. */
  readonly formatVersion: string;
  readonly control: ArMember;
  readonly controlCompression: ControlCompression;
  readonly data: ArMember;
  readonly dataCompression: Compression;
}

const extensions: ReadonlyMap<string, Compression> = new Map([
  ['.gz', 'gzip'],
  ['.xz', 'xz'],
  ['.zst', 'zstd'],
  ['.bz2', 'bzip2'],
  ['.lzma', 'lzma'],
]);
const controlCompressions: readonly string[] = ['gzip', 'xz', 'zstd', 'none'];

function isControlCompression(compression: string): compression is ControlCompression {
  return controlCompressions.includes(compression);
}

/**
 * Locates the members of a .deb of `fileSize` bytes from `head`, its first
 * bytes. Returns the layout, or, when `head` is too short to tell, how many
 * bytes from the start it must hold (always more than it does, never more
 * than `fileSize`). Throws `DebFileError` when the file is not a .deb.
 */
export function locateDebMembers(head: Uint8Array, fileSize: number): DebLayout | number {
  if (head.length < arSignature.length && fileSize >= arSignature.length) {
    return arSignature.length;
  }
  if (!hasArSignature(head)) {
    throw new DebFileError(
      'not a Debian binary package: the file does not start with the ar signature "!<arch>\\n"',
    );
  }
  const first = memberAt(head, arSignature.length, fileSize, 'debian-binary');
  if (typeof first === 'number') {
    return first;
  }
  if (first.name !== 'debian-binary') {
    throw new DebFileError(
      `the first ar member is ${JSON.stringify(first.name)}, not debian-binary`,
    );
  }
  if (first.dataOffset + first.size > head.length) {
    return first.dataOffset + first.size;
  }
  const formatVersion = readFormatVersion(
    head.subarray(first.dataOffset, first.dataOffset + first.size),
  );
  const control = memberAt(head, first.nextOffset, fileSize, 'control.tar');
  if (typeof control === 'number') {
    return control;
  }
  const controlCompression = compressionOf(control.name, 'control.tar');
  if (controlCompression === undefined) {
    throw new DebFileError(
      `no control.tar member: debian-binary is followed by ${JSON.stringify(control.name)}`,
    );
  }
  if (!isControlCompression(controlCompression)) {
    throw new DebFileError(
      `${JSON.stringify(control.name)}: unknown compression; a control member is control.tar, or control.tar.gz, .xz or .zst`,
    );
  }
  const data = memberAt(head, control.nextOffset, fileSize, 'data.tar');
  if (typeof data === 'number') {
    return data;
  }
  const dataCompression = compressionOf(data.name, 'data.tar');
  if (dataCompression === undefined || dataCompression === 'unknown') {
    throw new DebFileError(
      dataCompression === undefined
        ? `no data.tar member: ${control.name} is followed by ${JSON.stringify(data.name)}`
        : `${JSON.stringify(data.name)}: unknown compression; a data member is data.tar, or data.tar.gz, .xz, .zst, .bz2 or .lzma`,
    );
  }
  return { formatVersion, control, controlCompression, data, dataCompression };
}

/**
 * The first member at or after `offset` whose name does not start with `_`,
 * or the number of bytes `head` must hold to read its header.
 */
function memberAt(
  head: Uint8Array,
  offset: number,
  fileSize: number,
  expected: string,
): ArMember | number {
  for (let at = offset; ;) {
    if (at >= fileSize) {
      throw new DebFileError(`no ${expected} member: the archive ends before it`);
    }
    if (at + arHeaderSize > head.length && at + arHeaderSize <= fileSize) {
      return at + arHeaderSize;
    }
    const member = readArHeader(head, at, fileSize);
    if (!member.name.startsWith('_')) {
      return member;
    }
    at = member.nextOffset;
  }
}

/**
 * The compression of a member named `base` plus an extension; `unknown` for
 * an extension kiln does not know, `undefined` for another member.
 */
function compressionOf(name: string, base: string): Compression | 'unknown' | undefined {
  if (name === base) {
    return 'none';
  }
  if (!name.startsWith(`${base}.`)) {
    return undefined;
  }
  return extensions.get(name.slice(base.length)) ?? 'unknown';
}

/** deb(5): the first line is the format version; a later minor version may add lines. */
function readFormatVersion(content: Uint8Array): string {
  const text = Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString(
    'latin1',
  );
  const line = text.split('\n', 1)[0] ?? '';
  if (!/^2\.[0-9]+$/.test(line)) {
    throw new DebFileError(
      `debian-binary declares format ${JSON.stringify(line.slice(0, 20))}; kiln reads format 2.x`,
    );
  }
  return line;
}
