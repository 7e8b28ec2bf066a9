import type { Db } from './connect.ts';

/**
 * Group commit for statements many requests send at once: a call that comes
 * while a batch is in flight waits for it to end, then goes with every call
 * that came meanwhile in one statement. An idle server runs each call at once
 * (no added latency); a busy one sends one statement per batch instead of one
 * per request, so the database's round trips stop growing with the load.
 */
export interface Batcher<K, V> {
  run(key: K): Promise<V>;
}

export interface BatcherOptions {
  /** Keys per statement at most. */
  readonly maxBatch: number;
  /** Batches in flight at once (a pool's connections, or 1 where batches would contend). */
  readonly concurrency: number;
}

interface Call<K, V> {
  readonly key: K;
  readonly resolve: (value: V) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * A batcher over `runBatch`, which gets the keys of one batch and returns a
 * value per key, in their order; when it throws, every call of the batch gets
 * the error.
 */
export function createBatcher<K, V>(
  runBatch: (keys: readonly K[]) => Promise<readonly V[]>,
  options: BatcherOptions,
): Batcher<K, V> {
  const queue: Call<K, V>[] = [];
  let inFlight = 0;
  let scheduled = false;

  const start = () => {
    scheduled = false;
    while (inFlight < options.concurrency && queue.length > 0) {
      const calls = queue.splice(0, options.maxBatch);
      inFlight += 1;
      void runCalls(calls).finally(() => {
        inFlight -= 1;
        start();
      });
    }
  };

  const runCalls = async (calls: readonly Call<K, V>[]) => {
    try {
      const values = await runBatch(calls.map((c) => c.key));
      if (values.length !== calls.length) {
        throw new Error(`a batch of ${calls.length} returned ${values.length} values`);
      }
      calls.forEach((call, i) => {
        call.resolve(values[i] as V);
      });
    } catch (error) {
      for (const call of calls) {
        call.reject(error);
      }
    }
  };

  return {
    run(key) {
      return new Promise<V>((resolve, reject) => {
        queue.push({ key, resolve, reject });
        // Calls made while the event loop handles the same round of I/O go
        // together: requests that arrived at once each come in a callback of
        // their own, and setImmediate runs after all of them.
        if (!scheduled && inFlight < options.concurrency) {
          scheduled = true;
          setImmediate(start);
        }
      });
    },
  };
}

/**
 * A batched statement per database: `run(db, key)` joins the batch of `db`.
 * In a transaction it runs alone, on that transaction, as a call must see and
 * be part of what the transaction did.
 */
export function batchedPerDatabase<K, V>(
  runBatch: (db: Db, keys: readonly K[]) => Promise<readonly V[]>,
  options: BatcherOptions,
): (db: Db, key: K) => Promise<V> {
  const batchers = new WeakMap<Db, Batcher<K, V>>();
  return async (db, key) => {
    if (db.isTransaction) {
      const [value] = await runBatch(db, [key]);
      return value as V;
    }
    let batcher = batchers.get(db);
    if (batcher === undefined) {
      batcher = createBatcher((keys) => runBatch(db, keys), options);
      batchers.set(db, batcher);
    }
    return batcher.run(key);
  };
}
