import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { hash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, gzipSync, zstdCompressSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type DebFile,
  DebFileError,
  maxControlFileSize,
  maxHeadSize,
  parseDeb,
  readDebFile,
  wholeFileLimit,
} from './deb-file.ts';
import { formatDeb822 } from './deb822.ts';
import { maxControlTarSize } from './decompress.ts';
import { isValidVersion } from './version.ts';

const work = mkdtempSync(join(tmpdir(), 'kiln-deb-'));
after(() => {
  rmSync(work, { recursive: true, force: true });
});
let counter = 0;

const control = [
  'Package: kiln-probe',
  'Source: kiln-probe-src (1.0-1)',
  'Version: 1:2.3~rc1-4+b1',
  'Architecture: amd64',
  'Maintainer: Zoë Ünïcode <zoe@example.org>',
  'Installed-Size: 12',
  'Depends: libc6 (>= 2.36), foo | bar',
  'Multi-Arch: foreign',
  'X-Custom-Field: value  with  inner spaces',
  'Description: a package to read',
  ' Its long description has paragraphs',
  ' .',
  '   and indented lines.',
  '',
].join('\n');

/** Builds a .deb with dpkg-deb from a tree with `controlFiles` in DEBIAN/ and one file of data. */
function buildDeb(
  compression: string,
  controlFiles: Record<string, string>,
  content: string | Uint8Array = 'data\n'.repeat(100),
): string {
  const root = join(work, `tree-${counter++}`);
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  for (const [name, text] of Object.entries(controlFiles)) {
    writeFileSync(join(root, 'DEBIAN', name), text, {
      mode: name === 'postinst' ? 0o755 : 0o644,
    });
  }
  mkdirSync(join(root, 'usr/share/doc/kiln-probe'), { recursive: true });
  writeFileSync(join(root, 'usr/share/doc/kiln-probe/README'), content);
  const path = `${root}.deb`;
  execFileSync('dpkg-deb', ['--root-owner-group', `-Z${compression}`, '--build', root, path], {
    stdio: 'pipe',
  });
  return path;
}

function run(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
}

/** Every field's value as `dpkg-deb --show` prints it, continuation lines without their leading space. */
function dpkgFields(path: string, names: readonly string[]): string[] {
  const separator = '\u001f';
  const format = names.map((n) => `\${${n}}`).join(separator);
  return run('dpkg-deb', ['--show', `--showformat=${format}`, path])
    .split(separator)
    .map((v) => v.replace(/\n /g, '\n'));
}

function digestsOf(path: string): Pick<DebFile, 'md5' | 'sha1' | 'sha256' | 'sha512' | 'size'> {
  const sum = (tool: string) => run(tool, [path]).split(' ')[0] ?? '';
  return {
    md5: sum('md5sum'),
    sha1: sum('sha1sum'),
    sha256: sum('sha256sum'),
    sha512: sum('sha512sum'),
    size: statSync(path).size,
  };
}

/**
 * A package larger than `wholeFileLimit`, so that `readDebFile` streams it,
 * whose control.tar (a long md5sums, uncompressed) is larger than its first read.
 */
function largeDeb(): string {
  const lines = Array.from(
    { length: 4000 },
    (_, i) => `${i.toString(16).padStart(32, '0')}  f${i}\n`,
  );
  return buildDeb('none', { control, md5sums: lines.join('') }, Buffer.alloc(wholeFileLimit));
}

function pick(deb: DebFile): ReturnType<typeof digestsOf> {
  const { md5, sha1, sha256, sha512, size } = deb;
  return { md5, sha1, sha256, sha512, size };
}

/** A DebFile as plain data, so that two can be compared with deepEqual. */
function plain(deb: DebFile): object {
  return { ...deb, control: deb.control.entries() };
}

const compressions = [
  ['gzip', '.gz'],
  ['xz', '.xz'],
  ['zstd', '.zst'],
  ['none', ''],
] as const;

describe('reading packages dpkg-deb builds', () => {
  for (const [compression, extension] of compressions) {
    it(`reads a ${compression} package as dpkg-deb does`, async () => {
      const path = buildDeb(compression, {
        control,
        md5sums: `${'0'.repeat(32)}  usr/share/doc/kiln-probe/README\n`,
        postinst: '#!/bin/sh\nexit 0\n',
      });
      const deb = await parseDeb(readFileSync(path));
      assert.equal(deb.package, 'kiln-probe');
      assert.equal(deb.version, '1:2.3~rc1-4+b1');
      assert.equal(deb.architecture, 'amd64');
      assert.equal(deb.formatVersion, '2.0');
      assert.equal(deb.controlMember, `control.tar${extension}`);
      assert.equal(deb.controlCompression, compression);
      assert.equal(deb.dataMember, `data.tar${extension}`);
      assert.equal(deb.dataCompression, compression);

      const names = deb.control.names();
      assert.equal(names.length, 10);
      assert.deepEqual(
        names.map((n) => deb.control.get(n)),
        dpkgFields(path, names),
      );
      assert.equal(formatDeb822([deb.control]), run('dpkg-deb', ['--field', path]));
      assert.equal(deb.controlText, run('dpkg-deb', ['--info', path, 'control']));
      assert.deepEqual(pick(deb), digestsOf(path));
      assert.deepEqual(plain(await readDebFile(path)), plain(deb));
    });
  }

  it('streams a large package, and a control.tar larger than its first read', async () => {
    const path = largeDeb();
    const bytes = readFileSync(path);
    assert.ok(bytes.length > wholeFileLimit);
    assert.ok(bytes.indexOf('data.tar') > 128 * 1024);
    const deb = await readDebFile(path);
    assert.deepEqual(plain(deb), plain(await parseDeb(bytes)));
    assert.deepEqual(pick(deb), digestsOf(path));
    assert.equal(deb.controlText, run('dpkg-deb', ['--info', path, 'control']));
  });

  it('stops reading when its signal is aborted', async () => {
    const path = buildDeb('xz', { control });
    await assert.rejects(readDebFile(path, { signal: AbortSignal.abort() }), {
      name: 'AbortError',
    });
  });
});

/** An ar archive of `members` as dpkg-deb writes one (deb(5)). */
function ar(members: readonly (readonly [string, Uint8Array | string])[]): Buffer {
  const parts: Buffer[] = [Buffer.from('!<arch>\n')];
  for (const [name, content] of members) {
    const data = Buffer.from(content);
    const header = `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(data.length).padEnd(10)}\`\n`;
    parts.push(Buffer.from(header, 'latin1'), data);
    if (data.length % 2 === 1) {
      parts.push(Buffer.from('\n'));
    }
  }
  return Buffer.concat(parts);
}

/** A control.tar made by GNU tar of `files`, as dpkg-deb lays it out (`./control`, ...). */
function tar(files: Record<string, string | Uint8Array>): Buffer {
  const root = join(work, `tar-${counter++}`);
  mkdirSync(root);
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(root, name), content);
  }
  return execFileSync('tar', ['--format=gnu', '-C', root, '-cf', '-', '.'], {
    maxBuffer: 16 * 1024 * 1024,
  });
}

const data = tar({ file: 'data\n' });
const controlTar = tar({ control });
const good = () =>
  ar([
    ['debian-binary', '2.0\n'],
    ['control.tar.gz', gzipSync(controlTar)],
    ['data.tar', data],
  ]);

describe('reading hand-made packages', () => {
  it('skips members named _… between the required ones, and ignores any after data.tar', async () => {
    const deb = await parseDeb(
      ar([
        ['debian-binary', '2.0\n'],
        ['_odd', 'x'],
        ['control.tar.xz', xzCompress(controlTar)],
        ['_signature', 'abc'],
        ['data.tar.bz2', 'not read'],
        ['data-extra', 'whatever'],
      ]),
    );
    assert.equal(deb.package, 'kiln-probe');
    assert.equal(deb.controlCompression, 'xz');
    assert.equal(deb.dataMember, 'data.tar.bz2');
    assert.equal(deb.dataCompression, 'bzip2');
  });

  it('reads a later minor format version with more lines', async () => {
    const deb = await parseDeb(
      ar([
        ['debian-binary', '2.1\nfuture\n'],
        ['control.tar.zst', zstdCompressSync(tar({ control }))],
        ['data.tar.xz', data],
      ]),
    );
    assert.equal(deb.formatVersion, '2.1');
  });

  it('reads GNU ar names ending in a slash, and a last member without its padding', async () => {
    const bytes = ar([
      ['debian-binary/', '2.0\n'],
      ['control.tar/', controlTar],
      ['data.tar/', 'odd'],
    ]);
    const deb = await parseDeb(bytes.subarray(0, bytes.length - 1));
    assert.equal(deb.controlMember, 'control.tar');
    assert.equal(deb.dataMember, 'data.tar');
  });

  it('reads a control file named control, without ./', async () => {
    const root = join(work, `plain-${counter++}`);
    mkdirSync(root);
    writeFileSync(join(root, 'control'), control);
    const plainTar = execFileSync('tar', ['--format=pax', '-C', root, '-cf', '-', 'control']);
    const deb = await parseDeb(
      ar([
        ['debian-binary', '2.0\n'],
        ['control.tar', plainTar],
        ['data.tar', data],
      ]),
    );
    assert.equal(deb.controlText, control);
  });
});

const withControl = (text: string | Uint8Array) =>
  ar([
    ['debian-binary', '2.0\n'],
    ['control.tar.gz', gzipSync(tar({ control: text }))],
    ['data.tar', data],
  ]);
const withoutField = (name: string) =>
  withControl(control.replace(new RegExp(`^${name}: .*\\n`, 'm'), ''));
const withField = (name: string, value: string) =>
  withControl(control.replace(new RegExp(`^${name}: .*$`, 'm'), `${name}: ${value}`));
const flipped = (bytes: Buffer, at: number) => {
  const copy = Buffer.from(bytes);
  copy[at] = (copy[at] ?? 0) ^ 0x55;
  return copy;
};
const gzipMember = gzipSync(controlTar);
const controlStart = 8 + 60 + 4 + 60;

const malformed: [string, () => Uint8Array, RegExp][] = [
  [
    'an empty file',
    () => Buffer.alloc(0),
    /^not a Debian binary package: the file does not start with the ar signature "!<arch>\\n"$/,
  ],
  ['a text file', () => Buffer.from('Package: kiln\n'), /^not a Debian binary package/],
  ['a tar file', () => controlTar, /^not a Debian binary package/],
  [
    'an ar signature alone',
    () => Buffer.from('!<arch>\n'),
    /^no debian-binary member: the archive ends before it$/,
  ],
  [
    'a cut member header',
    () => good().subarray(0, 8 + 30),
    /^ar member header at byte 8 is truncated: the file ends 30 bytes into it$/,
  ],
  [
    'a cut control member',
    () => good().subarray(0, controlStart + 10),
    new RegExp(
      `^ar member "control.tar.gz" is truncated: it declares ${gzipMember.length} bytes but the file ends 10 bytes after its header$`,
    ),
  ],
  [
    'a header without its magic',
    () => Buffer.from(good()).fill(0x20, 8 + 58, 8 + 60),
    /^ar member header at byte 8 is corrupt: it does not end with the magic "`\\n"$/,
  ],
  [
    'a size that is not a number',
    () => Buffer.from(good()).fill('4x', 8 + 48, 8 + 50),
    /^ar member "debian-binary" at byte 8 has a malformed size "4x"$/,
  ],
  [
    'control.tar first',
    () =>
      ar([
        ['control.tar.gz', gzipMember],
        ['debian-binary', '2.0\n'],
        ['data.tar', data],
      ]),
    /^the first ar member is "control.tar.gz", not debian-binary$/,
  ],
  [
    'format 3.0',
    () =>
      ar([
        ['debian-binary', '3.0\n'],
        ['control.tar.gz', gzipMember],
        ['data.tar', data],
      ]),
    /^debian-binary declares format "3.0"; kiln reads format 2.x$/,
  ],
  [
    'no control member',
    () =>
      ar([
        ['debian-binary', '2.0\n'],
        ['data.tar', data],
      ]),
    /^no control.tar member: debian-binary is followed by "data.tar"$/,
  ],
  [
    'a bzip2 control member',
    () =>
      ar([
        ['debian-binary', '2.0\n'],
        ['control.tar.bz2', 'x'],
        ['data.tar', data],
      ]),
    /^"control.tar.bz2": unknown compression; a control member is control.tar, or control.tar.gz, .xz or .zst$/,
  ],
  [
    'no data member',
    () =>
      ar([
        ['debian-binary', '2.0\n'],
        ['control.tar.gz', gzipMember],
      ]),
    /^no data.tar member: the archive ends before it$/,
  ],
  [
    'another member instead of data.tar',
    () =>
      ar([
        ['debian-binary', '2.0\n'],
        ['control.tar.gz', gzipMember],
        ['data.zip', data],
      ]),
    /^no data.tar member: control.tar.gz is followed by "data.zip"$/,
  ],
  [
    'a data member of unknown compression',
    () =>
      ar([
        ['debian-binary', '2.0\n'],
        ['control.tar.gz', gzipMember],
        ['data.tar.lz4', data],
      ]),
    /^"data.tar.lz4": unknown compression; a data member is data.tar, or data.tar.gz, .xz, .zst, .bz2 or .lzma$/,
  ],
  ['corrupt gzip', () => flipped(good(), controlStart + 40), /^control.tar.gz is corrupt: /],
  [
    'corrupt xz',
    () =>
      flipped(
        ar([
          ['debian-binary', '2.0\n'],
          ['control.tar.xz', xzCompress(controlTar)],
          ['data.tar', data],
        ]),
        controlStart + 40,
      ),
    /^control.tar.xz is corrupt: /,
  ],
  [
    'corrupt zstd',
    () =>
      flipped(
        ar([
          ['debian-binary', '2.0\n'],
          // With the frame's content checksum a flipped byte is always caught
          // by zstd; without it, some flips decode to a different tar.
          [
            'control.tar.zst',
            zstdCompressSync(controlTar, { params: { [constants.ZSTD_c_checksumFlag]: 1 } }),
          ],
          ['data.tar', data],
        ]),
        controlStart + 20,
      ),
    /^control.tar.zst is corrupt: /,
  ],
  [
    'a gzip control member that expands too far',
    () =>
      ar([
        ['debian-binary', '2.0\n'],
        ['control.tar.gz', gzipSync(Buffer.alloc(maxControlTarSize + 1))],
        ['data.tar', data],
      ]),
    new RegExp(`^control.tar.gz expands to more than ${maxControlTarSize} bytes$`),
  ],
  [
    'a control member that is not a tar',
    () =>
      ar([
        ['debian-binary', '2.0\n'],
        ['control.tar', Buffer.alloc(1024, 'x')],
        ['data.tar', data],
      ]),
    /^control.tar: the tar header at byte 0 has a (bad checksum|malformed number)$/,
  ],
  [
    'no control file',
    () =>
      ar([
        ['debian-binary', '2.0\n'],
        ['control.tar.gz', gzipSync(tar({ md5sums: '' }))],
        ['data.tar', data],
      ]),
    /^control.tar.gz has no control file$/,
  ],
  ['an empty control file', () => withControl(''), /^the control file is empty$/],
  [
    'a control file larger than kiln reads',
    () => withControl(`${control}Description: long\n${' x\n'.repeat(maxControlFileSize / 3)}`),
    new RegExp(
      `^the control file is ${Buffer.byteLength(control) + 18 + 3 * Math.floor(maxControlFileSize / 3)} bytes; kiln reads control files of up to ${maxControlFileSize}$`,
    ),
  ],
  [
    'a malformed control file',
    () => withControl('Package: a\nno colon\n'),
    /^the control file is malformed: line 2: not a field: "no colon"$/,
  ],
  [
    'two paragraphs',
    () => withControl(`${control}\nPackage: b\n`),
    /^the control file has 2 paragraphs; a binary package's has one$/,
  ],
  [
    'control that is not UTF-8',
    () => withControl(Buffer.from('Package: caf\xe9\n', 'latin1')),
    /^the control file is not valid UTF-8$/,
  ],
  ['no Package', () => withoutField('Package'), /^the control file has no Package field$/],
  ['no Version', () => withoutField('Version'), /^the control file has no Version field$/],
  [
    'no Architecture',
    () => withoutField('Architecture'),
    /^the control file has no Architecture field$/,
  ],
  [
    'an empty Version',
    () => withControl(control.replace(/^Version: .*$/m, 'Version:')),
    /^the control file has no Version field$/,
  ],
  [
    'an invalid Version',
    () => withField('Version', 'v1.0'),
    /^the control file's Version "v1.0" is invalid: the upstream version does not start with a digit$/,
  ],
  [
    'an invalid Package',
    () => withField('Package', 'Kiln_Probe'),
    /^the control file's Package "Kiln_Probe" is invalid: /,
  ],
  [
    'a multi-line Architecture',
    () => withField('Architecture', 'amd64\n i386'),
    /^the control file's Architecture "amd64\\ni386" is invalid: it spans several lines$/,
  ],
];

describe('refusing a large package whose control member is too large to read', () => {
  it('refuses it before reading the control member', async () => {
    // control.tar, uncompressed, longer than a control.tar may expand to.
    const member = Buffer.alloc(maxHeadSize);
    tar({ control }).copy(member);
    const path = join(work, `huge-control-${counter++}.deb`);
    writeFileSync(
      path,
      ar([
        ['debian-binary', '2.0\n'],
        ['control.tar', member],
        ['data.tar', data],
      ]),
    );
    await assert.rejects(readDebFile(path), {
      name: 'DebFileError',
      message: `the members before data.tar take more than ${maxHeadSize} bytes; kiln reads up to that`,
    });
  });
});

describe('refusing malformed packages', () => {
  for (const [what, make, message] of malformed) {
    it(`refuses ${what}`, async () => {
      const bytes = make();
      const refused = (error: unknown) =>
        error instanceof DebFileError &&
        message.test(error.message) &&
        !error.message.includes('\n');
      await assert.rejects(parseDeb(bytes), refused);
      const path = join(work, `malformed-${counter++}.deb`);
      writeFileSync(path, bytes);
      await assert.rejects(readDebFile(path), refused);
    });
  }
});

/** A change to a .deb, as data so that fast-check prints a failing one readably. */
type Mutation =
  | { readonly cut: number }
  | { readonly flip: number; readonly mask: number }
  | { readonly replace: number; readonly length: number; readonly bytes: Uint8Array }
  | { readonly insert: number; readonly from: number; readonly length: number };

/** Offsets mostly in the first `hot` bytes, where the members a reader parses are. */
const offset = (hot: number) => fc.oneof({ weight: 4, arbitrary: fc.nat(hot) }, fc.nat());
const mutation = (hot: number): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.record({ cut: offset(hot) }),
    fc.record({ flip: offset(hot), mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({
      replace: offset(hot),
      length: fc.nat(64),
      bytes: fc.uint8Array({ maxLength: 64 }),
    }),
    fc.record({ insert: offset(hot), from: offset(hot), length: fc.nat(600) }),
  );

/** Applies a mutation; `insert` copies bytes from `donor`, another package. */
function mutate(bytes: Buffer, m: Mutation, donor: Buffer): Buffer {
  const at = (n: number) => n % (bytes.length + 1);
  if ('cut' in m) {
    return bytes.subarray(0, at(m.cut));
  }
  if ('flip' in m) {
    const copy = Buffer.from(bytes);
    const i = m.flip % Math.max(copy.length, 1);
    copy[i] = (copy[i] ?? 0) ^ m.mask;
    return copy;
  }
  if ('replace' in m) {
    const i = at(m.replace);
    return Buffer.concat([bytes.subarray(0, i), m.bytes, bytes.subarray(i + m.length)]);
  }
  const i = at(m.insert);
  const j = m.from % (donor.length + 1);
  return Buffer.concat([bytes.subarray(0, i), donor.subarray(j, j + m.length), bytes.subarray(i)]);
}

describe('fuzzing the reader with damaged packages', () => {
  const originals = compressions.map(([compression]) =>
    readFileSync(buildDeb(compression, { control })),
  );
  originals.forEach((original, index) => {
    const compression = compressions[index]?.[0] ?? '';
    const donor = originals[(index + 1) % originals.length] ?? original;
    // The data member's header ends where a reader stops looking.
    const dataStart = original.indexOf('data.tar') + 60;
    it(`reads a damaged ${compression} package correctly or throws DebFileError`, async () => {
      const parsed = await parseDeb(original);
      await fc.assert(
        fc.asyncProperty(
          fc.array(mutation(dataStart + 60), { minLength: 1, maxLength: 3 }),
          async (mutations) => {
            const bytes = mutations.reduce<Buffer>((b, m) => mutate(b, m, donor), original);
            let deb: DebFile;
            try {
              deb = await parseDeb(bytes);
            } catch (error) {
              assert.ok(error instanceof DebFileError, `not a DebFileError: ${String(error)}`);
              assert.ok(!error.message.includes('\n'), error.message);
              return;
            }
            assert.equal(deb.size, bytes.length);
            assert.equal(deb.sha256, hash('sha256', bytes, 'hex'));
            assert.equal(deb.md5, hash('md5', bytes, 'hex'));
            assert.equal(deb.control.get('Package'), deb.package);
            assert.ok(isValidVersion(deb.version));
            if (bytes.subarray(0, dataStart).equals(original.subarray(0, dataStart))) {
              assert.deepEqual(deb.control.entries(), parsed.control.entries());
            }
          },
        ),
        { numRuns: 400 },
      );
    });
  });

  it('gives the same answer from a large file, streamed, as from memory', async () => {
    const original = readFileSync(largeDeb());
    const donor = originals[0] ?? original;
    const dataStart = original.indexOf('data.tar') + 60;
    const path = join(work, 'fuzzed.deb');
    const outcome = async (read: () => DebFile | Promise<DebFile>) => {
      try {
        return plain(await read());
      } catch (error) {
        return error instanceof DebFileError ? error.message : error;
      }
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(mutation(dataStart + 60), { minLength: 1, maxLength: 2 }),
        async (mutations) => {
          const bytes = mutations.reduce<Buffer>((b, m) => mutate(b, m, donor), original);
          writeFileSync(path, bytes);
          assert.deepEqual(
            await outcome(() => readDebFile(path)),
            await outcome(() => parseDeb(bytes)),
          );
        },
      ),
      { numRuns: 40 },
    );
  });
});

function xzCompress(bytes: Uint8Array): Buffer {
  return execFileSync('xz', ['--compress', '--stdout'], { input: bytes });
}
