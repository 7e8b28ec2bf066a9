import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { hash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stanzaText } from '../../../debian/archive.ts';
import type { FileStore } from '../../files/file-store.ts';
import { readInSlices } from './binary-reading.ts';
import {
  createDebReaders,
  readDebsHere,
  type DebReaders,
  type DebToRead,
  type ReadOutcome,
} from './deb-readers.ts';
import type { SuiteRow } from './repository.repository.ts';

const work = mkdtempSync(join(tmpdir(), 'kiln-deb-readers-'));
after(() => {
  rmSync(work, { recursive: true, force: true });
});

/** A .deb built by dpkg-deb, with a `Source:` field when given. */
function buildDeb(
  name: string,
  version: string,
  source?: string,
): { file: DebToRead; bytes: Buffer } {
  const tree = join(work, `${name}-${version}`);
  mkdirSync(join(tree, 'DEBIAN'), { recursive: true });
  mkdirSync(join(tree, 'usr', 'share', 'doc', name), { recursive: true });
  writeFileSync(join(tree, 'usr', 'share', 'doc', name, 'hello'), `${name}\n`);
  writeFileSync(
    join(tree, 'DEBIAN', 'control'),
    [
      `Package: ${name}`,
      ...(source === undefined ? [] : [`Source: ${source}`]),
      `Version: ${version}`,
      'Architecture: amd64',
      'Maintainer: Kiln Tests <tests@example.org>',
      `Description: ${name} for tests`,
      ' Read by the reading threads.',
      '',
    ].join('\n'),
  );
  const path = join(work, `${name}_${version}_amd64.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', tree, path], {
    stdio: 'ignore',
  });
  const bytes = readFileSync(path);
  return {
    file: {
      path: `${name}_${version}_amd64.deb`,
      size: bytes.length,
      sha256: hash('sha256', bytes, 'hex'),
    },
    bytes,
  };
}

describe('reading .debs in threads', () => {
  const debs = [
    buildDeb('alpha', '1.0-1'),
    buildDeb('libbeta1', '2.3-1', 'libbeta (2.3-1)'),
    buildDeb('gamma', '0.1'),
  ];
  const notADeb = Buffer.from('this is not a Debian package\n');
  const truncated = debs[0]?.bytes.subarray(0, 200) ?? Buffer.alloc(0);
  const files = [
    ...debs.map((d) => d.file),
    { path: 'notes_1.0_amd64.deb', size: notADeb.length, sha256: hash('sha256', notADeb, 'hex') },
    { path: 'cut_1.0_amd64.deb', size: truncated.length, sha256: hash('sha256', truncated, 'hex') },
  ];
  const contents = [...debs.map((d) => d.bytes), notADeb, truncated];

  it('reads what reading here reads, in order, with each malformed one named', async () => {
    const readers = createDebReaders(2);
    try {
      readers.warm();
      // Started, not yet ready: it has read nothing.
      assert.equal(readers.ready(), false);
      const [threads, again] = await Promise.all([
        readers.read('main', files, contents),
        readers.read('contrib', files.slice(1, 2), contents.slice(1, 2)),
      ]);
      assert.equal(readers.ready(), true);
      // The same outcomes, each stanza handed over as its UTF-8.
      assert.ok(threads.every((t) => !('deb' in t) || t.deb.stanza instanceof Uint8Array));
      assert.deepEqual(threads.map(asText), await readDebsHere('main', files, contents));

      const [alpha, beta, gamma, notes, cut] = threads;
      assert.ok(alpha !== undefined && 'deb' in alpha);
      assert.equal(alpha.deb.package, 'alpha');
      assert.equal(alpha.deb.source, 'alpha');
      assert.equal(alpha.deb.pool_path, 'pool/main/a/alpha/alpha_1.0-1_amd64.deb');
      const md5 = hash('md5', contents[0] ?? Buffer.alloc(0), 'hex');
      const stanza = stanzaText(alpha.deb.stanza);
      assert.match(stanza, /^Package: alpha\nVersion: 1\.0-1\n/);
      assert.ok(
        stanza.endsWith(
          `Filename: pool/main/a/alpha/alpha_1.0-1_amd64.deb\nSize: ${files[0]?.size}\nMD5sum: ${md5}\nSHA256: ${files[0]?.sha256}\n`,
        ),
        stanza,
      );
      assert.ok(beta !== undefined && 'deb' in beta);
      assert.deepEqual(
        [beta.deb.package, beta.deb.source, beta.deb.source_version, beta.deb.pool_path],
        ['libbeta1', 'libbeta', '2.3-1', 'pool/main/libb/libbeta/libbeta1_2.3-1_amd64.deb'],
      );
      assert.ok(gamma !== undefined && 'deb' in gamma);
      assert.equal(gamma.deb.version, '0.1');
      assert.deepEqual(notes, {
        error:
          'not a Debian binary package: the file does not start with the ar signature "!<arch>\\n"',
      });
      assert.ok(cut !== undefined && 'error' in cut);
      assert.match(cut.error, /truncated/);

      // Another task at the same time, for another component.
      const [contrib] = again;
      assert.ok(contrib !== undefined && 'deb' in contrib);
      assert.equal(contrib.deb.pool_path, 'pool/contrib/libb/libbeta/libbeta1_2.3-1_amd64.deb');
    } finally {
      await readers.close();
    }
  });

  it('names the .debs of the tasks a thread had when it stopped', async () => {
    const readers = createDebReaders(1);
    const settled = Promise.allSettled([
      readers.read('main', files.slice(0, 1), contents.slice(0, 1)),
      readers.read('main', files, contents),
    ]);
    // Before the new thread has answered: both tasks are still its own.
    await readers.close();
    const reasons = (await settled).map((s) =>
      s.status === 'rejected' ? (s.reason as Error).message : 'read',
    );
    assert.deepEqual(reasons, [
      'the .deb reading threads were closed, while reading alpha_1.0-1_amd64.deb',
      `the .deb reading threads were closed, while reading alpha_1.0-1_amd64.deb and ${files.length - 1} other .debs`,
    ]);
  });

  it('reads contents that are views of a larger buffer', async () => {
    const whole = Buffer.concat([Buffer.from('padding'), ...contents]);
    let offset = 'padding'.length;
    const views = contents.map((c) => {
      const view = whole.subarray(offset, offset + c.length);
      offset += c.length;
      return view;
    });
    const readers = createDebReaders(1);
    try {
      assert.deepEqual(
        (await readers.read('main', files, views)).map(asText),
        await readDebsHere('main', files, contents),
      );
      // The caller's buffer is left as it was: the thread gets a copy.
      assert.equal(whole.length, 'padding'.length + contents.reduce((s, c) => s + c.length, 0));
      assert.equal(whole.subarray(0, 7).toString(), 'padding');
    } finally {
      await readers.close();
    }
  });
});

describe('an include reading its slices', () => {
  const debs = [buildDeb('one', '1'), buildDeb('two', '1'), buildDeb('three', '1')];
  const byHash = new Map(debs.map((d) => [d.file.sha256, d.bytes]));
  const store = {
    readMany: (sha256s: readonly string[]) =>
      Promise.resolve(sha256s.map((sha256) => byHash.get(sha256) ?? Buffer.alloc(0))),
  } as unknown as FileStore;
  const suite = { id: 1, codename: 'test', architectures: ['amd64'] } as unknown as SuiteRow;
  const refs = debs.map((d) => ({ artifactId: 1, file: d.file }));

  it('reads the first slice here while no reading thread is ready, and in one once it is', async () => {
    const threads = createDebReaders(1);
    const sent: string[][] = [];
    const readers: DebReaders = {
      ...threads,
      read(component, files, bytes) {
        sent.push(files.map((f) => f.path));
        return threads.read(component, files, bytes);
      },
    };
    try {
      const readAll = async () => {
        // Slices of one .deb each.
        const slices = readInSlices({ store, readers, readHereUpTo: 0 }, refs, 2, suite, 'main');
        const read: string[] = [];
        for (let index = 0; index < slices.count; index++) {
          read.push(...(await slices.read(index)).map((b) => b.package));
        }
        return read;
      };
      readers.warm();
      assert.deepEqual(await readAll(), ['one', 'two', 'three']);
      assert.deepEqual(sent, [['two_1_amd64.deb'], ['three_1_amd64.deb']]);
      assert.equal(readers.ready(), true);
      sent.length = 0;
      assert.deepEqual(await readAll(), ['one', 'two', 'three']);
      assert.deepEqual(sent, [['one_1_amd64.deb'], ['two_1_amd64.deb'], ['three_1_amd64.deb']]);
    } finally {
      await threads.close();
    }
  });
});

/** An outcome with its stanza as text. */
function asText(outcome: ReadOutcome): ReadOutcome {
  return 'deb' in outcome
    ? { deb: { ...outcome.deb, stanza: stanzaText(outcome.deb.stanza) } }
    : outcome;
}
