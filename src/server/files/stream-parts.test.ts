import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../../protocol/errors.ts';
import { readParts } from './stream-parts.ts';

async function* chunksOf(...chunks: string[]): AsyncGenerator<Buffer> {
  for (const chunk of chunks) {
    yield Buffer.from(chunk);
  }
}

async function split(
  source: AsyncIterable<Buffer>,
  sizes: readonly number[],
  wholeUpTo = 0,
): Promise<string[]> {
  const parts: string[] = [];
  await readParts(
    source,
    sizes,
    async (index, part) => {
      const size = sizes[index] ?? 0;
      assert.equal(Buffer.isBuffer(part), size <= wholeUpTo, `part ${index} whole or streamed`);
      const chunks: Buffer[] = [];
      for await (const chunk of Buffer.isBuffer(part) ? [part] : part) {
        chunks.push(chunk);
      }
      parts[index] = Buffer.concat(chunks).toString();
    },
    wholeUpTo,
  );
  return parts;
}

describe('readParts', () => {
  it('splits chunks that straddle parts, and empty parts', async () => {
    assert.deepEqual(await split(chunksOf('abc', 'de', 'fghij'), [2, 0, 4, 4]), [
      'ab',
      '',
      'cdef',
      'ghij',
    ]);
  });

  it('gives small parts whole, streams larger ones, in order', async () => {
    const chunks = chunksOf('abc', 'de', 'fghij', 'k');
    assert.deepEqual(await split(chunks, [2, 0, 4, 4, 1], 2), ['ab', '', 'cdef', 'ghij', 'k']);
    // A part within one chunk is a view of it; one across chunks is joined.
    assert.deepEqual(await split(chunksOf('abc', 'de'), [1, 3, 1], 3), ['a', 'bcd', 'e']);
  });

  it('refuses content that ends early, whole parts too', async () => {
    await assert.rejects(
      split(chunksOf('abc'), [2, 2], 2),
      (error) => error instanceof KilnError && error.code === 'size_mismatch',
    );
    await assert.rejects(
      split(chunksOf('abc'), [2, 2]),
      (error) => error instanceof KilnError && error.code === 'size_mismatch',
    );
  });

  it('refuses content longer than the parts', async () => {
    await assert.rejects(
      split(chunksOf('abcde'), [2, 2]),
      (error) => error instanceof KilnError && error.code === 'size_mismatch',
    );
  });
});
