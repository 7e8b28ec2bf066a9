import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KilnError } from '../../protocol/errors.ts';
import { readParts } from './stream-parts.ts';

async function* chunksOf(...chunks: string[]): AsyncGenerator<Buffer> {
  for (const chunk of chunks) {
    yield Buffer.from(chunk);
  }
}

async function split(source: AsyncIterable<Buffer>, sizes: readonly number[]): Promise<string[]> {
  const parts: string[] = [];
  await readParts(source, sizes, async (index, part) => {
    const chunks: Buffer[] = [];
    for await (const chunk of part) {
      chunks.push(chunk);
    }
    parts[index] = Buffer.concat(chunks).toString();
  });
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

  it('refuses content that ends early', async () => {
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
