import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { DebFileError } from './deb-file-error.ts';
import { decompressMember, maxControlTarSize } from './decompress.ts';

const gunzip = (member: Uint8Array) => decompressMember(member, 'gzip', 'control.tar.gz');

/** Bytes that compress well or not at all, as control.tars and their md5sums do. */
const content = fc.oneof(
  fc.uint8Array({ maxLength: 3000 }),
  fc
    .tuple(fc.string({ maxLength: 200 }), fc.integer({ min: 1, max: 400 }))
    .map(([text, times]) => Buffer.from(text.repeat(times))),
);

describe('decompressMember with gzip (one zlib stream reused from member to member)', () => {
  it('gives what gunzipSync gives, for one member or several end to end', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(content, { minLength: 1, maxLength: 3 }), async (parts) => {
        const member = Buffer.concat(parts.map((part) => gzipSync(part)));
        assert.deepEqual(Buffer.from(await gunzip(member)), gunzipSync(member));
      }),
    );
  });

  it('reads past the size the trailer declares: a large member followed by a small one', async () => {
    // The trailer read first is the last member's: 3 bytes, while the whole expands to 2 MB and 3.
    const large = Buffer.alloc(2 * 1024 * 1024, 'a');
    const member = Buffer.concat([gzipSync(large), gzipSync('end')]);
    const output = Buffer.from(await gunzip(member));
    assert.equal(output.length, large.length + 3);
    assert.equal(output.subarray(-3).toString(), 'end');
  });

  it('refuses a corrupt or truncated member with zlib’s reason, and reads the next one after it', async () => {
    const good = gzipSync('Package: after\n');
    const corrupt = Buffer.from(good);
    corrupt[corrupt.length - 6] = (corrupt[corrupt.length - 6] ?? 0) ^ 0xff; // its CRC
    await assert.rejects(gunzip(corrupt), (error: Error) => {
      assert.ok(error instanceof DebFileError);
      assert.match(error.message, /^control\.tar\.gz is corrupt: incorrect data check$/);
      return true;
    });
    await assert.rejects(gunzip(good.subarray(0, good.length - 3)), /unexpected end of file/);
    await assert.rejects(gunzip(Buffer.from('not gzip at all')), /incorrect header check/);
    assert.equal(Buffer.from(await gunzip(good)).toString(), 'Package: after\n');
  });

  it('stops a member that expands beyond maxControlTarSize', async () => {
    const bomb = gzipSync(Buffer.alloc(maxControlTarSize + 1));
    await assert.rejects(gunzip(bomb), /expands to more than 67108864 bytes/);
    assert.equal(Buffer.from(await gunzip(gzipSync('ok'))).toString(), 'ok');
  });

  it('gives an empty output for an empty member', async () => {
    assert.equal((await gunzip(gzipSync(Buffer.alloc(0)))).length, 0);
  });
});
