import { KilnError } from '../../protocol/errors.ts';
import { noteReceived } from '../garbage.ts';

/**
 * Reads `source` as consecutive parts of the given sizes (a batch upload: the
 * contents of several files, one after the other) and hands each part to
 * `take` in order, as chunks that add up to exactly its size; `take` reads
 * its part to the end or throws. Fails with `size_mismatch` if the source
 * ends early or goes on past the last part.
 */
export async function readParts(
  source: AsyncIterable<Buffer>,
  sizes: readonly number[],
  take: (index: number, part: AsyncIterable<Buffer>) => Promise<void>,
): Promise<void> {
  const iterator = source[Symbol.asyncIterator]();
  let leftover: Buffer | undefined;
  const total = sizes.reduce((sum, size) => sum + size, 0);
  let received = 0;
  const nextChunk = async (): Promise<Buffer | undefined> => {
    if (leftover !== undefined) {
      const chunk = leftover;
      leftover = undefined;
      return chunk;
    }
    const next: IteratorResult<Buffer> = await iterator.next();
    if (next.done === true) {
      return undefined;
    }
    received += next.value.length;
    noteReceived(next.value.length);
    return next.value;
  };
  async function* part(size: number): AsyncGenerator<Buffer> {
    let left = size;
    while (left > 0) {
      const chunk = await nextChunk();
      if (chunk === undefined) {
        throw new KilnError(
          'size_mismatch',
          `the content ended after ${received} of ${total} bytes`,
        );
      }
      if (chunk.length > left) {
        leftover = chunk.subarray(left);
        yield chunk.subarray(0, left);
        return;
      }
      left -= chunk.length;
      yield chunk;
    }
  }
  for (const [index, size] of sizes.entries()) {
    await take(index, part(size));
  }
  const extra = await nextChunk();
  if (extra !== undefined && extra.length > 0) {
    throw new KilnError('size_mismatch', `the content is longer than the ${total} bytes expected`);
  }
}
