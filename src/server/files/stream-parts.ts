import { KilnError } from '../../protocol/errors.ts';
import { noteReceived } from '../garbage.ts';

/**
 * Reads `source` as consecutive parts of the given sizes (a batch upload: the
 * contents of several files, one after the other) and hands each part to
 * `take` in order: a part of up to `wholeUpTo` bytes as one Buffer (a view of
 * the chunk it arrived in when it fits in one), a larger one as chunks that
 * add up to exactly its size, which `take` reads to the end or throws. Fails
 * with `size_mismatch` if the source ends early or goes on past the last part.
 */
export async function readParts(
  source: AsyncIterable<Buffer>,
  sizes: readonly number[],
  take: (index: number, part: AsyncIterable<Buffer> | Buffer) => Promise<void>,
  wholeUpTo = 0,
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
  /** The next bytes of a part with `left` bytes to go: at most `left`. */
  const nextPiece = async (left: number): Promise<Buffer> => {
    const chunk = leftover ?? (await nextChunk());
    leftover = undefined;
    if (chunk === undefined) {
      throw new KilnError('size_mismatch', `the content ended after ${received} of ${total} bytes`);
    }
    if (chunk.length > left) {
      leftover = chunk.subarray(left);
      return chunk.subarray(0, left);
    }
    return chunk;
  };
  // Without an async generator per part: a batch of 20,000 small parts spent
  // more in their promises than in the bytes.
  const readWhole = async (size: number): Promise<Buffer> => {
    const pieces: Buffer[] = [];
    for (let left = size; left > 0;) {
      const piece = await nextPiece(left);
      pieces.push(piece);
      left -= piece.length;
    }
    return pieces.length === 1 && pieces[0] !== undefined ? pieces[0] : Buffer.concat(pieces, size);
  };
  async function* part(size: number): AsyncGenerator<Buffer> {
    for (let left = size; left > 0;) {
      const piece = await nextPiece(left);
      left -= piece.length;
      yield piece;
    }
  }
  for (const [index, size] of sizes.entries()) {
    await take(index, size <= wholeUpTo ? await readWhole(size) : part(size));
  }
  const extra = await nextChunk();
  if (extra !== undefined && extra.length > 0) {
    throw new KilnError('size_mismatch', `the content is longer than the ${total} bytes expected`);
  }
}
