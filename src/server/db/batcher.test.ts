import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBatcher } from './batcher.ts';

/** A batch function that records its batches and waits to be released. */
function recording() {
  const batches: number[][] = [];
  const releases: (() => void)[] = [];
  const run = async (keys: readonly number[]) => {
    batches.push([...keys]);
    await new Promise<void>((resolve) => releases.push(resolve));
    return keys.map((k) => k * 10);
  };
  const releaseAll = () => {
    for (const release of releases.splice(0)) {
      release();
    }
  };
  return { batches, run, releaseAll };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('batcher', () => {
  it('sends calls of the same turn together, and calls made while it runs in the next batch', async () => {
    const { batches, run, releaseAll } = recording();
    const batcher = createBatcher(run, { maxBatch: 100, concurrency: 1 });
    const first = [1, 2, 3].map((k) => batcher.run(k));
    await tick();
    const second = [4, 5].map((k) => batcher.run(k));
    await tick();
    assert.deepEqual(batches, [[1, 2, 3]]);
    releaseAll();
    assert.deepEqual(await Promise.all(first), [10, 20, 30]);
    await tick();
    assert.deepEqual(batches, [
      [1, 2, 3],
      [4, 5],
    ]);
    releaseAll();
    assert.deepEqual(await Promise.all(second), [40, 50]);
  });

  it('splits at maxBatch and runs up to `concurrency` batches at once', async () => {
    const { batches, run, releaseAll } = recording();
    const batcher = createBatcher(run, { maxBatch: 2, concurrency: 2 });
    const all = [1, 2, 3, 4, 5].map((k) => batcher.run(k));
    await tick();
    assert.deepEqual(batches, [
      [1, 2],
      [3, 4],
    ]);
    releaseAll();
    await tick();
    assert.deepEqual(batches.at(-1), [5]);
    releaseAll();
    assert.deepEqual(await Promise.all(all), [10, 20, 30, 40, 50]);
  });

  it('fails every call of a batch that throws, and goes on with the next', async () => {
    let fail = true;
    const batcher = createBatcher(
      async (keys: readonly number[]) => {
        if (fail) {
          fail = false;
          throw new Error('the database went away');
        }
        return keys;
      },
      { maxBatch: 10, concurrency: 1 },
    );
    const failed = [1, 2].map((k) => batcher.run(k));
    for (const call of failed) {
      await assert.rejects(call, /the database went away/);
    }
    assert.equal(await batcher.run(3), 3);
  });

  it('refuses a batch function that returns the wrong number of values', async () => {
    const batcher = createBatcher(async () => [1], { maxBatch: 10, concurrency: 1 });
    const calls = [batcher.run(1), batcher.run(2)];
    for (const call of calls) {
      await assert.rejects(call, /a batch of 2 returned 1 values/);
    }
  });
});
