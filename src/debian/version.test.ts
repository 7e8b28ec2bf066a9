import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  VersionError,
  compareParsedVersions,
  compareVersions,
  explainBadVersion,
  formatVersion,
  isValidVersion,
  parseVersion,
} from './version.ts';

/** Pairs `[older, newer]` as dpkg orders them; several from dpkg's own lib/dpkg/t/t-version.c. */
const ascending: [string, string][] = [
  ['1.0', '1.1'],
  ['1.0', '1.0-1'],
  ['1.0-1', '1.0-2'],
  ['1.0-2', '1.0-10'],
  ['2.0', '10.0'],
  ['1.9', '1.10'],
  ['1.0~rc1', '1.0'],
  ['1.0~~', '1.0~'],
  ['1.0~~a', '1.0~'],
  ['1.0~', '1.0'],
  ['1.0', '1.0a'],
  ['1.0a', '1.0b'],
  ['1.0A', '1.0a'],
  ['1.0z', '1.0+'],
  ['1.0+', '1.0.'],
  ['1.0', '1.0.1'],
  ['1.0', '1.0+dfsg'],
  ['1.0-1', '1.0-1+b1'],
  ['1.0-1~bpo12+1', '1.0-1'],
  ['1.0-1', '1.0-a'],
  ['2.0', '1:0.1'],
  ['1:1.0', '2:0'],
  ['9:9.9', '10:0'],
  ['0.0.1', '0.1'],
  ['1.2.3~beta2', '1.2.3~rc1'],
  ['7.6-0', '7.6p2-4'],
  ['1.0-1', '1.0-1.1'],
  ['1.0.0', '1.0.0a0'],
];
const equal: [string, string][] = [
  ['1.0', '1.0'],
  ['1.0', '0:1.0'],
  ['1.0', '1.0-0'],
  ['1.0', '00:1.0-0'],
  ['1.001', '1.1'],
  ['1.0', '1.00'],
  ['0:1.0-0', '1.0'],
];

describe('compareVersions', () => {
  for (const [older, newer] of ascending) {
    it(`orders ${older} before ${newer}`, () => {
      assert.equal(compareVersions(older, newer), -1);
      assert.equal(compareVersions(newer, older), 1);
    });
  }
  for (const [a, b] of equal) {
    it(`holds ${a} and ${b} equal`, () => {
      assert.equal(compareVersions(a, b), 0);
      assert.equal(compareVersions(b, a), 0);
    });
  }

  it('throws VersionError for an invalid version', () => {
    assert.throws(() => compareVersions('1.0', 'abc'), VersionError);
  });

  it('sorts like the parsed comparison', () => {
    const versions = ['1.0-1', '1.0~rc1', '1:0.1', '1.0', '1.0+b1', '0.9'];
    const sorted = versions.map(parseVersion).sort(compareParsedVersions).map(formatVersion);
    assert.deepEqual(sorted, ['0.9', '1.0~rc1', '1.0', '1.0-1', '1.0+b1', '1:0.1']);
  });
});

describe('parseVersion', () => {
  it('splits epoch, upstream and revision at the first colon and the last hyphen', () => {
    assert.deepEqual(parseVersion('2:1.0-rc1-3'), { epoch: 2, upstream: '1.0-rc1', revision: '3' });
    assert.deepEqual(parseVersion('1.0'), { epoch: 0, upstream: '1.0', revision: '' });
    assert.deepEqual(parseVersion('0:7'), { epoch: 0, upstream: '7', revision: '' });
  });

  const invalid: [string, RegExp][] = [
    ['', /is empty/],
    ['1.0 1', /whitespace/],
    [' 1.0', /whitespace/],
    [':1.0', /epoch before ":" is empty/],
    ['a:1.0', /epoch is not a number/],
    ['-1:1.0', /epoch is not a number/],
    ['99999999999:1.0', /epoch is larger than 2147483647/],
    ['1:', /upstream version is empty/],
    ['-1', /upstream version is empty/],
    ['a1.0', /does not start with a digit/],
    ['1.0_1', /upstream version contains "_"/],
    ['1:1.0:2', /upstream version contains ":"/],
    ['1.0-', /revision after the last "-" is empty/],
    ['1.0-1_2', /revision contains "_"/],
    ['1.0-1:2', /epoch is not a number/],
    ['1.0ä', /upstream version contains "ä"/],
  ];
  for (const [text, message] of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(isValidVersion(text), false);
      assert.match(explainBadVersion(text) ?? '', message);
      assert.throws(
        () => parseVersion(text),
        (error) =>
          error instanceof VersionError &&
          message.test(error.message) &&
          error.message.startsWith(`invalid version ${JSON.stringify(text)}: `),
      );
    });
  }
});

/**
 * Valid versions from a small alphabet, so that pairs often share prefixes and
 * meet every rule of the comparison (tildes, letters, digit runs, leading zeros).
 */
const part = (chars: string[], maxLength: number) =>
  fc.array(fc.constantFrom(...chars), { maxLength }).map((cs) => cs.join(''));
const version = fc
  .record({
    epoch: fc.option(fc.constantFrom('0', '1', '2', '01', '10'), { nil: undefined }),
    upstream: fc
      .tuple(
        fc.constantFrom('0', '1', '2', '10', '01'),
        part(['0', '1', '9', '00', 'a', 'b', 'Z', '.', '+', '~', '-'], 6),
      )
      .map(([first, rest]) => first + rest),
    revision: fc.option(part(['0', '1', '2', 'a', '.', '+', '~'], 4), { nil: undefined }),
  })
  .map(({ epoch, upstream, revision }) => {
    // A hyphen in upstream needs a revision after it; a revision may not be empty.
    const rev =
      revision === undefined || revision === '' ? (upstream.includes('-') ? '1' : '') : revision;
    return `${epoch === undefined ? '' : `${epoch}:`}${upstream}${rev === '' ? '' : `-${rev}`}`;
  });

/** A second version close to the first: equal, or with a piece added, removed or changed. */
const pair = version.chain((a) =>
  fc.oneof(
    version.map((b) => [a, b] as const),
    fc.constant([a, a] as const),
    fc
      .tuple(fc.nat(a.length), fc.constantFrom('', '0', '~', 'a', '1', '.', '+'))
      .map(([at, piece]) => [a, a.slice(0, at) + piece + a.slice(at + 1)] as const)
      .filter(([, b]) => isValidVersion(b)),
  ),
);

function dpkgCompare(a: string, b: string): number {
  const run = (op: string) => {
    const result = spawnSync('dpkg', ['--compare-versions', a, op, b], { encoding: 'utf8' });
    assert.equal(result.stderr, '', `dpkg warned about ${a} or ${b}`);
    assert.ok(result.status === 0 || result.status === 1, result.stderr);
    return result.status === 0;
  };
  return run('lt') ? -1 : run('eq') ? 0 : 1;
}

describe('version properties', () => {
  it('compares as dpkg --compare-versions does', () => {
    fc.assert(
      fc.property(pair, ([a, b]) => {
        assert.equal(compareVersions(a, b), dpkgCompare(a, b), `${a} vs ${b}`);
      }),
      { numRuns: 300 },
    );
  });

  it('is antisymmetric and reflexive', () => {
    fc.assert(
      fc.property(pair, ([a, b]) => {
        assert.equal(compareVersions(a, b), -compareVersions(b, a) || 0);
        assert.equal(compareVersions(a, a), 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('is transitive', () => {
    fc.assert(
      fc.property(fc.array(version, { minLength: 3, maxLength: 12 }), (vs) => {
        const sorted = [...vs].sort(compareVersions);
        for (let i = 0; i + 1 < sorted.length; i++) {
          for (let j = i + 1; j < sorted.length; j++) {
            assert.ok(compareVersions(sorted[i]!, sorted[j]!) <= 0, `${sorted[i]} vs ${sorted[j]}`);
          }
        }
      }),
    );
  });

  it('formats a parsed version to one that compares equal and parses the same', () => {
    fc.assert(
      fc.property(version, (v) => {
        const parsed = parseVersion(v);
        assert.equal(compareVersions(formatVersion(parsed), v), 0);
        assert.deepEqual(parseVersion(formatVersion(parsed)), parsed);
      }),
    );
  });

  it('never throws but VersionError, and accepts exactly what parses', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 12 }), version), (text) => {
        try {
          parseVersion(text);
          assert.equal(isValidVersion(text), true);
        } catch (error) {
          assert.ok(error instanceof VersionError);
          assert.equal(isValidVersion(text), false);
        }
      }),
    );
  });
});
