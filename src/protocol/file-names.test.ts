import assert from 'node:assert/strict';
import { isAbsolute, join, relative, sep } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { KilnError } from './errors.ts';
import { assertFileName, explainBadFileName, maxFileNameBytes } from './file-names.ts';

const base = '/srv/kiln/artifact';

/**
 * Names built from the pieces that make path traversal: `.`, `..`, empty
 * segments, slashes, backslashes, control characters, and ordinary text
 * (unicode included), so that the property meets both accepted and refused
 * names often.
 */
const segment = fc.oneof(
  fc.constantFrom(
    '',
    '.',
    '..',
    '...',
    '..a',
    'a..',
    '.hidden',
    '\\',
    '..\\..',
    '\u0000',
    '\n',
    '~',
  ),
  fc.string({ minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }),
);
const name = fc.oneof(
  fc.array(segment, { minLength: 1, maxLength: 8 }).map((s) => s.join('/')),
  fc
    .tuple(fc.constantFrom('/', './', '../', ''), fc.array(segment, { maxLength: 4 }))
    .map(([prefix, s]) => prefix + s.join('/')),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

describe('explainBadFileName', () => {
  it('accepts only names that stay inside a directory they are joined under', () => {
    let accepted = 0;
    fc.assert(
      fc.property(name, (candidate) => {
        if (explainBadFileName(candidate) !== undefined) {
          return;
        }
        accepted += 1;
        const joined = join(base, candidate);
        const back = relative(base, joined);
        assert.ok(joined.startsWith(base + sep), joined);
        assert.ok(back !== '' && back !== '..' && !back.startsWith(`..${sep}`), back);
        assert.ok(!isAbsolute(back), back);
        // An accepted name is already normal: joining it changes nothing.
        assert.equal(joined, `${base}/${candidate}`);
      }),
      { numRuns: 5000 },
    );
    // The generator must reach accepted names, or the property says nothing.
    assert.ok(accepted > 500, `only ${accepted} names accepted`);
  });

  it('accepts ordinary names', () => {
    for (const accepted of [
      'a',
      'hello_1.0-1_amd64.deb',
      'pool/main/h/hello/hello_1.0-1.dsc',
      'with space/and #?%&+=.txt',
      'ünïcødé/ファイル名/🦀',
      '.hidden',
      '...',
      '..a/a..',
      '~',
      'x'.repeat(255),
      Array.from({ length: 17 }, () => 'x'.repeat(240)).join('/'),
    ]) {
      assert.equal(explainBadFileName(accepted), undefined, accepted);
      assertFileName(accepted);
    }
  });

  it('refuses names that could escape or that no file system takes, saying why', () => {
    const refused: readonly [string, RegExp][] = [
      ['', /empty/],
      ['/etc/passwd', /absolute/],
      ['..', /segment/],
      ['../x', /segment/],
      ['a/../../x', /segment/],
      ['a/..', /segment/],
      ['.', /segment/],
      ['./x', /segment/],
      ['a//b', /segment/],
      ['a/', /segment/],
      ['a\u0000b', /control/],
      ['a\nb', /control/],
      ['a\u001fb', /control/],
      ['a\u007fb', /control/],
      ['a\\b', /backslash/],
      ['..\\x', /backslash/],
      ['a\ud800', /Unicode/],
      ['\udc00b', /Unicode/],
      ['x'.repeat(256), /segment .* 255/],
      ['é'.repeat(128), /segment .* 255/],
      [Array.from({ length: 17 }, () => 'x'.repeat(240)).join('/') + 'x', /4096/],
      [`é${'x/'.repeat(2047)}x`, /4096/],
    ];
    for (const [candidate, reason] of refused) {
      assert.match(explainBadFileName(candidate) ?? 'accepted', reason, JSON.stringify(candidate));
      assert.throws(
        () => {
          assertFileName(candidate);
        },
        (error: unknown) => error instanceof KilnError && error.code === 'invalid_file_name',
      );
    }
    assert.ok(Buffer.byteLength(`é${'x/'.repeat(2047)}x`) > maxFileNameBytes);
  });
});
