import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DebFileError } from './deb-file-error.ts';
import { type DebLayout, locateDebMembers } from './deb-layout.ts';

/** An ar archive of `members` (deb(5)), with odd sizes so that padding matters. */
function ar(members: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [Buffer.from('!<arch>\n')];
  for (const [name, content] of members) {
    const size = String(content.length).padEnd(10);
    parts.push(Buffer.from(`${name.padEnd(16)}0           0     0     100644  ${size}\`\n`));
    parts.push(Buffer.from(content), Buffer.from(content.length % 2 === 1 ? '\n' : ''));
  }
  return Buffer.concat(parts);
}

const deb = ar([
  ['debian-binary', '2.0\n'],
  ['_a', 'odd'],
  ['control.tar.xz', 'x'.repeat(101)],
  ['_b', ''],
  ['data.tar.zst', 'y'.repeat(33)],
]);

describe('locateDebMembers', () => {
  it('locates the members, skipping those named _…', () => {
    const layout = locateDebMembers(deb, deb.length) as DebLayout;
    assert.equal(layout.formatVersion, '2.0');
    assert.deepEqual(
      [layout.control.name, layout.control.dataOffset, layout.control.size],
      ['control.tar.xz', 8 + 60 + 4 + 60 + 4 + 60, 101],
    );
    assert.equal(layout.controlCompression, 'xz');
    assert.deepEqual([layout.data.name, layout.dataCompression], ['data.tar.zst', 'zstd']);
  });

  it('asks for more bytes, never more than the file, until it has read enough', () => {
    const full = locateDebMembers(deb, deb.length);
    for (let n = 0; n <= deb.length; n++) {
      const result = locateDebMembers(deb.subarray(0, n), deb.length);
      if (typeof result === 'number') {
        assert.ok(result > n && result <= deb.length, `${n} bytes: asked for ${result}`);
      } else {
        assert.deepEqual(result, full, `${n} bytes`);
      }
    }
  });

  it('answers for a damaged file from a prefix as from the whole file', () => {
    fc.assert(
      fc.property(
        fc.nat(deb.length - 1),
        fc.integer({ min: 1, max: 255 }),
        fc.nat(deb.length),
        (at, mask, n) => {
          const bytes = Buffer.from(deb);
          bytes[at] = (bytes[at] ?? 0) ^ mask;
          const outcome = (head: Uint8Array) => {
            try {
              return locateDebMembers(head, bytes.length);
            } catch (error) {
              assert.ok(error instanceof DebFileError);
              return error.message;
            }
          };
          // Following its requests from any prefix reaches the whole file's answer.
          let length = n;
          let result = outcome(bytes.subarray(0, length));
          while (typeof result === 'number') {
            assert.ok(result > length && result <= bytes.length, `asked for ${result}`);
            length = result;
            result = outcome(bytes.subarray(0, length));
          }
          assert.deepEqual(result, outcome(bytes));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
