/**
 * A minimal .deb writer for the benchmark's corpus: the ar archive of
 * deb(5) holding `debian-binary`, `control.tar.gz` and `data.tar.gz`, with a
 * ustar writer of its own and gzip from node:zlib. Spawning dpkg-deb per
 * package would take longer than the benchmark itself.
 */
import { gzipSync } from 'node:zlib';

/** A member of a tar archive: a directory (its path ends with `/`) or a regular file. */
export interface TarEntry {
  readonly path: string;
  readonly content?: Buffer;
  readonly mode?: number;
}

export interface DebContent {
  /** The `control` file's text (one deb822 paragraph, ending with a newline). */
  readonly control: string;
  /** The installed tree, paths relative to `/` written as `./usr/...`. */
  readonly data: readonly TarEntry[];
  /** Seconds since the epoch, for every timestamp inside. */
  readonly mtime: number;
}

const block = 512;
// Level 6 (zlib's default) would save a few bytes on files this small and cost time.
const gzipLevel = 1;

/** The bytes of a .deb (deb(5): format 2.0). */
export function buildDeb(deb: DebContent): Buffer {
  const control = gzipSync(
    writeTar([{ path: './' }, { path: './control', content: Buffer.from(deb.control) }], deb.mtime),
    { level: gzipLevel },
  );
  const data = gzipSync(writeTar(deb.data, deb.mtime), { level: gzipLevel });
  return writeAr(
    [
      { name: 'debian-binary', content: Buffer.from('2.0\n') },
      { name: 'control.tar.gz', content: control },
      { name: 'data.tar.gz', content: data },
    ],
    deb.mtime,
  );
}

/** A ustar archive (POSIX.1-1988) of directories and regular files, owned by root. */
export function writeTar(entries: readonly TarEntry[], mtime: number): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const directory = entry.path.endsWith('/');
    const content = directory ? Buffer.alloc(0) : (entry.content ?? Buffer.alloc(0));
    parts.push(
      tarHeader(
        entry.path,
        content.length,
        entry.mode ?? (directory ? 0o755 : 0o644),
        mtime,
        directory,
      ),
    );
    if (content.length > 0) {
      parts.push(content, Buffer.alloc(padding(content.length, block)));
    }
  }
  // The end of the archive: two zero blocks.
  parts.push(Buffer.alloc(2 * block));
  return Buffer.concat(parts);
}

function tarHeader(
  path: string,
  size: number,
  mode: number,
  mtime: number,
  directory: boolean,
): Buffer {
  const header = Buffer.alloc(block);
  const { name, prefix } = splitPath(path);
  header.write(name, 0, 100, 'utf8');
  writeOctal(header, 100, 8, mode);
  writeOctal(header, 108, 8, 0);
  writeOctal(header, 116, 8, 0);
  writeOctal(header, 124, 12, size);
  writeOctal(header, 136, 12, mtime);
  header.fill(' ', 148, 156);
  header.write(directory ? '5' : '0', 156);
  header.write('ustar\u000000', 257, 'latin1');
  header.write('root', 265);
  header.write('root', 297);
  header.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of header) {
    sum += byte;
  }
  // Six octal digits, NUL, space: the form every tar reads.
  header.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return header;
}

/** ustar keeps up to 100 bytes in `name` and 155 more, before a `/`, in `prefix`. */
function splitPath(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) {
    return { name: path, prefix: '' };
  }
  const cut = path.lastIndexOf('/', path.length - 2);
  const name = path.slice(cut + 1);
  const prefix = path.slice(0, cut);
  if (cut < 0 || Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) {
    throw new Error(`path too long for ustar: ${path}`);
  }
  return { name, prefix };
}

function writeOctal(header: Buffer, offset: number, width: number, value: number): void {
  header.write(`${value.toString(8).padStart(width - 1, '0')}\u0000`, offset, 'latin1');
}

/** A common ar archive (ar(5)) as deb(5) wants it: names of up to 16 bytes, no symbol table. */
function writeAr(members: readonly { name: string; content: Buffer }[], mtime: number): Buffer {
  const parts: Buffer[] = [Buffer.from('!<arch>\n')];
  for (const { name, content } of members) {
    const header =
      name.padEnd(16) +
      String(mtime).padEnd(12) +
      '0'.padEnd(6) +
      '0'.padEnd(6) +
      '100644'.padEnd(8) +
      String(content.length).padEnd(10) +
      '`\n';
    parts.push(Buffer.from(header, 'latin1'), content);
    if (content.length % 2 === 1) {
      parts.push(Buffer.from('\n'));
    }
  }
  return Buffer.concat(parts);
}

function padding(length: number, unit: number): number {
  return (unit - (length % unit)) % unit;
}
