import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DebFileError } from './deb-file-error.ts';
import { maxLongNameSize, maxPaxHeaderSize, readTarFiles } from './tar.ts';

const work = mkdtempSync(join(tmpdir(), 'kiln-tar-'));
after(() => {
  rmSync(work, { recursive: true, force: true });
});

const longName = `${'d'.repeat(60)}/${'f'.repeat(90)}`; // fits ustar's prefix + name
const veryLongName = 'n'.repeat(120); // fits no ustar field: GNU or pax headers only
const files: Record<string, string> = {
  control: 'Package: a\nVersion: 1\nArchitecture: all\n',
  md5sums: `${'0'.repeat(32)}  usr/bin/a\n`,
  empty: '',
  [longName]: 'long\n',
  [veryLongName]: 'very long\n',
  ünïcödé: 'utf-8 name\n',
  'block-sized': 'x'.repeat(512),
};

/** A tar of `names` (from `files`) made by GNU tar in `format`, with a directory and a symlink too. */
function makeTar(format: string, names: readonly string[]): Buffer {
  const root = mkdtempSync(join(work, `${format}-`));
  for (const name of names) {
    mkdirSync(join(root, dirname(name)), { recursive: true });
    writeFileSync(join(root, name), files[name] ?? '');
  }
  symlinkSync('control', join(root, 'link'));
  return execFileSync('tar', [`--format=${format}`, '-C', root, '-cf', '-', '.'], {
    maxBuffer: 1 << 24,
  });
}

const allNames = Object.keys(files);
const shortNames = allNames.filter((n) => n !== veryLongName && n !== longName);
const formats: [string, readonly string[]][] = [
  ['gnu', allNames],
  ['oldgnu', allNames],
  ['pax', allNames],
  ['ustar', allNames.filter((n) => n !== veryLongName)],
  ['v7', shortNames],
];

describe('readTarFiles', () => {
  for (const [format, names] of formats) {
    it(`reads the regular files of a ${format} archive GNU tar writes`, () => {
      const read = readTarFiles(makeTar(format, names), 'test.tar');
      assert.deepEqual(
        new Map(read.map((f) => [f.path, Buffer.from(f.data).toString('utf8')])),
        new Map(names.map((n) => [n, files[n]])),
      );
    });
  }

  it('reads an archive without its end-of-archive blocks', () => {
    const tar = makeTar('gnu', ['control']);
    // header of ./, header and one block of ./control: the zero blocks after are cut.
    const read = readTarFiles(tar.subarray(0, 512 * 3), 'test.tar');
    assert.deepEqual(
      read.map((f) => f.path),
      ['control'],
    );
  });

  it('reads a size in base-256, as GNU tar writes sizes too large for octal', () => {
    const tar = makeTar('gnu', ['control']);
    const header = tar.subarray(512, 1024); // ./control, after ./
    assert.equal(header.toString('latin1', 0, 9), './control');
    const size = files['control']?.length ?? 0;
    header.fill(0, 124, 136);
    header[124] = 0x80;
    header.writeUInt32BE(size, 132);
    header.fill(0x20, 148, 156);
    const sum = header.reduce((total, byte) => total + byte, 0);
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    assert.equal(
      Buffer.from(readTarFiles(tar, 'test.tar')[0]?.data ?? []).toString(),
      files['control'],
    );
  });

  const malformed: [string, (tar: Buffer) => Buffer, RegExp][] = [
    [
      'a header with a bad checksum',
      (tar) => {
        tar[512 + 5] = (tar[512 + 5] ?? 0) ^ 1;
        return tar;
      },
      /^test\.tar: the tar header at byte 512 has a bad checksum$/,
    ],
    [
      'an entry cut short',
      (tar) => tar.subarray(0, 512 * 2 + 10),
      /^test\.tar: entry "control" is truncated: it declares 40 bytes but the archive ends 10 bytes after its header$/,
    ],
    [
      'a size that is not octal',
      (tar) => {
        const header = tar.subarray(512, 1024);
        header.write('0000000009x\0', 124, 'latin1');
        header.fill(0x20, 148, 156);
        const sum = header.reduce((total, byte) => total + byte, 0);
        header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
        return tar;
      },
      /^test\.tar: the tar header at byte 512 has a malformed number$/,
    ],
    ['garbage', () => Buffer.alloc(1024, 'garbage'), /bad checksum|malformed number/],
  ];
  for (const [what, spoil, message] of malformed) {
    it(`throws DebFileError for ${what}`, () => {
      const tar = spoil(makeTar('gnu', ['control']));
      assert.throws(
        () => readTarFiles(tar, 'test.tar'),
        (error) => error instanceof DebFileError && message.test(error.message),
      );
    });
  }

  /** A tar of one header of `type` with `size` bytes of `fill` after it, then ./control. */
  const oversized = (type: 'L' | 'x', size: number, fill: string) => {
    const header = Buffer.alloc(512);
    header.write(type === 'L' ? '././@LongLink' : 'pax', 0, 'latin1');
    header.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
    header.write(type, 156, 'latin1');
    header.write('ustar  \0', 257, 'latin1');
    header.fill(0x20, 148, 156);
    const sum = header.reduce((total, byte) => total + byte, 0);
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const body = Buffer.alloc(Math.ceil(size / 512) * 512);
    body.write(fill.repeat(Math.ceil(size / fill.length)).slice(0, size), 'latin1');
    return Buffer.concat([header, body, makeTar('gnu', ['control'])]);
  };

  it('reads a long name and a pax header up to their limits', () => {
    const name = readTarFiles(oversized('L', maxLongNameSize, 'n'), 'test.tar');
    assert.deepEqual(
      name.map((f) => f.path),
      // The long name names the next entry, ./ (a directory), then ./control.
      ['control'],
    );
    const record = '12 k00000=v\n';
    const records = record.repeat(Math.floor(maxPaxHeaderSize / record.length));
    assert.deepEqual(
      readTarFiles(oversized('x', records.length, records), 'test.tar').map((f) => f.path),
      ['control'],
    );
  });

  for (const [type, limit, what] of [
    ['L', maxLongNameSize, 'long name'],
    ['x', maxPaxHeaderSize, 'pax header'],
  ] as const) {
    it(`throws DebFileError for a ${what} larger than kiln reads`, () => {
      assert.throws(
        () => readTarFiles(oversized(type, limit + 1, 'n'), 'test.tar'),
        (error) =>
          error instanceof DebFileError &&
          error.message ===
            `test.tar: the ${what} at byte 0 is ${limit + 1} bytes; kiln reads up to ${limit}`,
      );
    });
  }

  it('throws DebFileError for a malformed pax record', () => {
    const tar = makeTar('pax', [veryLongName]);
    const record = tar.indexOf(' path=');
    assert.ok(record > 0);
    tar.write('x', record - 1, 'latin1'); // the length before " path=" is no longer a number
    assert.throws(
      () => readTarFiles(tar, 'test.tar'),
      (error) =>
        error instanceof DebFileError &&
        /^test\.tar: malformed pax header record at byte 0$/.test(error.message),
    );
  });
});
