import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';

// Larger reads and writes take more CPU here: the buffer falls out of the CPU
// cache between the copy from the page cache into it and the copy out of it.
const defaultBlockBytes = 256 * 1024;

/**
 * Writes bytes `start` to `end` (exclusive) of a file to `destination`, which
 * it does not end. Two buffers serve the whole copy: one is read into while the
 * other is being written, and a buffer is reused only once `destination` has
 * taken its bytes (the write's callback), which also paces the copy to the
 * reader. A stream would allocate a buffer per chunk instead, and each
 * allocation costs the server garbage collection, more so with a large heap.
 * Rejects if the file is shorter than `end` or `destination` closes or fails
 * first.
 */
export async function sendFileRange(
  handle: FileHandle,
  destination: Writable,
  start: number,
  end: number,
  blockBytes = defaultBlockBytes,
): Promise<void> {
  const blocks: readonly [Buffer, Buffer] = [
    Buffer.allocUnsafeSlow(Math.min(blockBytes, end - start)),
    Buffer.allocUnsafeSlow(Math.min(blockBytes, end - start)),
  ];
  const closed = closedEarly(destination);
  let sending: Promise<void> = Promise.resolve();
  try {
    for (
      let position = start, current: 0 | 1 = 0;
      position < end;
      current = current === 0 ? 1 : 0
    ) {
      const block = blocks[current];
      const { bytesRead } = await handle.read(
        block,
        0,
        Math.min(block.length, end - position),
        position,
      );
      if (bytesRead === 0) {
        throw new Error(`the file ends at ${position}, before ${end}`);
      }
      // The other block is still being written; this one may go once it is done.
      await sending;
      sending = Promise.race([write(destination, block.subarray(0, bytesRead)), closed.promise]);
      sending.catch(() => undefined); // awaited next round; this only prevents an unhandled rejection
      position += bytesRead;
    }
    await sending;
  } finally {
    closed.dispose();
  }
}

function write(destination: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    destination.write(chunk, (error) => {
      if (error == null) {
        resolve();
      } else {
        reject(error);
      }
    });
  });
}

/**
 * Rejects when `destination` closes: a write to a closed HTTP response may
 * never call back.
 */
function closedEarly(destination: Writable): { promise: Promise<never>; dispose(): void } {
  let onClose: () => void = () => undefined;
  const promise = new Promise<never>((_resolve, reject) => {
    onClose = () => {
      reject(new Error('the destination closed before the whole content was sent'));
    };
    if (destination.closed || destination.destroyed) {
      onClose();
    } else {
      destination.once('close', onClose);
    }
  });
  promise.catch(() => undefined);
  return {
    promise,
    dispose() {
      destination.off('close', onClose);
    },
  };
}
