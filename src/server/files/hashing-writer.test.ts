import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { KilnError } from '../../protocol/errors.ts';
import { writeHashed } from './hashing-writer.ts';
import { createSha256Pool, type Sha256Pool } from './sha256-pool.ts';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** `content` in chunks of uneven sizes, as a socket delivers them. */
function chunked(content: Buffer, sizes: readonly number[] = [1, 65536, 100003, 7]) {
  return Readable.from(
    (function* () {
      for (let offset = 0, i = 0; offset < content.length; i += 1) {
        const size = sizes[i % sizes.length] ?? 1;
        yield content.subarray(offset, offset + size);
        offset += size;
      }
    })(),
  );
}

describe('writeHashed', () => {
  let dir: string;
  let count = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-hashing-writer-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes `source` to a new file; returns the result and the file's content. */
  async function write(
    source: Readable,
    maxSize: number,
    signal?: AbortSignal,
    hashPool?: Sha256Pool,
  ) {
    const path = join(dir, String((count += 1)));
    const handle = await open(path, 'wx');
    try {
      const written = await writeHashed(source, handle, { maxSize, signal, hashPool });
      return { written, stored: await readFile(path) };
    } finally {
      await handle.close();
    }
  }

  it('writes content of many blocks exactly, with its size and sha256', async () => {
    // Goes round the ring of blocks several times, and ends inside a block.
    const content = randomBytes(5 * 1024 * 1024 + 12345);
    const { written, stored } = await write(chunked(content), content.length);
    assert.equal(written.size, content.length);
    assert.equal(written.sha256, sha256(content));
    assert.ok(stored.equals(content));
  });

  it('reuses a block only once its write is done, however slow the disk', async () => {
    const content = randomBytes(3 * 1024 * 1024 + 5);
    const path = join(dir, 'slow');
    const handle = await open(path, 'wx');
    // The disk takes the bytes only a while after each write is asked for.
    const slow = {
      write: async (data: Buffer, offset: number, length: number, position: number) => {
        await sleep(3);
        return handle.write(data, offset, length, position);
      },
      datasync: () => handle.datasync(),
      sync: () => handle.sync(),
    } as unknown as FileHandle; // only what writeHashed calls
    try {
      const written = await writeHashed(chunked(content), slow, { maxSize: content.length });
      assert.equal(written.sha256, sha256(content));
      assert.ok((await readFile(path)).equals(content));
    } finally {
      await handle.close();
    }
  });

  it('hashes large content in the worker thread, small content in this one, alike', async () => {
    const pool = createSha256Pool();
    let jobs = 0;
    const counted: Sha256Pool = {
      start: () => {
        jobs += 1;
        return pool.start();
      },
    };
    for (const [size, offThread] of [
      [9 * 1024 * 1024 + 3, 1],
      [100_000, 0],
    ] as const) {
      jobs = 0;
      const content = randomBytes(size);
      const { written, stored } = await write(chunked(content), content.length, undefined, counted);
      assert.equal(written.sha256, sha256(content));
      assert.ok(stored.equals(content));
      assert.equal(jobs, offThread, `${size} bytes hashed off the thread: ${offThread}`);
    }
    // Several at once share the worker, each its own hash.
    const contents = [1, 2, 3].map((n) => randomBytes(5 * 1024 * 1024 + n));
    const results = await Promise.all(
      contents.map((c) => write(chunked(c), c.length, undefined, counted)),
    );
    assert.deepEqual(
      results.map((r) => r.written.sha256),
      contents.map(sha256),
    );
  });

  it('fails, and leaves the worker usable, when the source fails during an off-thread hash', async () => {
    const pool = createSha256Pool();
    const failing = Readable.from(
      (function* () {
        yield randomBytes(6 * 1024 * 1024);
        throw new Error('connection reset');
      })(),
    );
    await assert.rejects(write(failing, 10 * 1024 * 1024, undefined, pool), /connection reset/);
    const content = randomBytes(5 * 1024 * 1024);
    const { written } = await write(chunked(content), content.length, undefined, pool);
    assert.equal(written.sha256, sha256(content));
  });

  it('fails with the write error, in the worker thread as in this one', async () => {
    const pool = createSha256Pool();
    const path = join(dir, 'read-only');
    await writeFile(path, '');
    for (const hashPool of [pool, undefined]) {
      // A descriptor open for reading only: every write fails with EBADF.
      const handle = await open(path, 'r');
      try {
        const content = randomBytes(6 * 1024 * 1024);
        await assert.rejects(
          writeHashed(chunked(content), handle, { maxSize: content.length, hashPool }),
          { code: 'EBADF' },
        );
      } finally {
        await handle.close();
      }
    }
    // The worker is still there for the next content.
    const content = randomBytes(5 * 1024 * 1024);
    const { written } = await write(chunked(content), content.length, undefined, pool);
    assert.equal(written.sha256, sha256(content));
  });

  it('writes content that is exactly one block', async () => {
    const content = randomBytes(256 * 1024);
    const { written, stored } = await write(chunked(content, [256 * 1024]), content.length);
    assert.equal(written.sha256, sha256(content));
    assert.ok(stored.equals(content));
  });

  it('writes empty content', async () => {
    const { written, stored } = await write(Readable.from([]), 0);
    assert.equal(written.size, 0);
    assert.equal(written.sha256, sha256(Buffer.alloc(0)));
    assert.equal(stored.length, 0);
  });

  it('stops past maxSize with too_large', async () => {
    const content = randomBytes(600 * 1024);
    await assert.rejects(
      write(chunked(content), content.length - 1),
      (error) => error instanceof KilnError && error.code === 'too_large',
    );
  });

  it('fails with its source', async () => {
    const failing = Readable.from(
      (function* () {
        yield randomBytes(1500 * 1024);
        throw new Error('connection reset');
      })(),
    );
    await assert.rejects(write(failing, 10 * 1024 * 1024), /connection reset/);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    let pushed = 0;
    const endless = new Readable({
      read() {
        this.push(randomBytes(64 * 1024));
        pushed += 1;
        if (pushed === 20) {
          setImmediate(() => {
            controller.abort();
          });
        }
      },
    });
    await assert.rejects(write(endless, 1024 ** 3, controller.signal), { name: 'AbortError' });
  });
});
