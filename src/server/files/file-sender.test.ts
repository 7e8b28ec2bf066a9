import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { sendFileRange } from './file-sender.ts';

/**
 * A destination that copies each chunk only some time after it is handed over,
 * as a socket does: a sender that reused a buffer too early would corrupt it.
 */
function collector() {
  const chunks: Buffer[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      setTimeout(() => {
        chunks.push(Buffer.from(chunk));
        callback();
      }, 2);
    },
  });
  return { destination, content: () => Buffer.concat(chunks) };
}

describe('sendFileRange', () => {
  let dir: string;
  let handle: FileHandle;
  // Several blocks, and not a multiple of one.
  const content = randomBytes(3 * 1024 * 1024 + 12345);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-file-sender-'));
    await writeFile(join(dir, 'content'), content);
    handle = await open(join(dir, 'content'), 'r');
  });
  after(async () => {
    await handle.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends the whole file, byte for byte', async () => {
    const copy = collector();
    await sendFileRange(handle, copy.destination, 0, content.length);
    assert.ok(copy.content().equals(content));
  });

  it('sends ranges, across block boundaries', async () => {
    const last = content.length - 1;
    for (const [start, end] of [
      [0, 1],
      [262143, 262145],
      [1000, 2 * 1024 * 1024 + 17],
      [last, last + 1],
      [5, 5],
    ] as const) {
      const copy = collector();
      await sendFileRange(handle, copy.destination, start, end);
      assert.ok(copy.content().equals(content.subarray(start, end)), `${start}-${end}`);
    }
  });

  it('fails if the file ends before the range', async () => {
    const copy = collector();
    await assert.rejects(
      sendFileRange(handle, copy.destination, 0, content.length + 10),
      /the file ends at/,
    );
  });

  it('stops when the destination closes', async () => {
    // Takes one chunk and never calls back, then goes away, as a client that hangs up.
    const destination = new Writable({
      write() {
        setImmediate(() => destination.destroy());
      },
    });
    await assert.rejects(sendFileRange(handle, destination, 0, content.length), /closed/);
  });

  it('does not write to a destination already closed', async () => {
    const destination = new Writable({
      write(_chunk, _encoding, callback) {
        callback();
      },
    });
    destination.destroy();
    await assert.rejects(sendFileRange(handle, destination, 0, content.length), /closed/);
  });
});
