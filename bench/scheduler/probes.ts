/**
 * What the scheduler bench measures, the same way for every queue: dispatch
 * throughput (from the first claim to the last completion) and pickup latency
 * (from the submission returning to the handler receiving the task).
 */

/** One queue's figures. */
export interface QueueFigures {
  readonly name: string;
  /** The queue's settings, as the report prints them. */
  readonly settings: string;
  readonly tasks: number;
  /** Seconds from the first claim to the last completion. */
  readonly seconds: number;
  /** Pickup latencies in milliseconds, sorted. */
  readonly pickup: readonly number[];
}

/** Counts claims and completions; `done` settles when `total` tasks completed. */
export interface ThroughputProbe {
  claimed(): void;
  completed(): void;
  readonly done: Promise<void>;
  readonly count: number;
  /** Seconds from the first claim to the last completion. */
  seconds(): number;
}

export function createThroughputProbe(total: number): ThroughputProbe {
  let first: number | undefined;
  let last = 0;
  let count = 0;
  const { promise, resolve } = Promise.withResolvers<undefined>();
  return {
    claimed() {
      first ??= performance.now();
    },
    completed() {
      count += 1;
      last = performance.now();
      if (count === total) {
        resolve(undefined);
      }
    },
    done: promise,
    get count() {
      return count;
    },
    seconds: () => (last - (first ?? last)) / 1000,
  };
}

/**
 * Pairs each task's submission with its pickup, by a key the queue gives both
 * sides (a task id, or a number in the payload). A task may be picked up before
 * its submission returns: that pickup counts as 0 ms.
 */
export interface PickupProbe {
  submitted(key: number): void;
  received(key: number): void;
  /** Settles when `total` tasks were received. */
  readonly done: Promise<void>;
  readonly count: number;
  /** Latencies in ms of the tasks after the first `skip` submitted, sorted. */
  latencies(skip: number): number[];
}

export function createPickupProbe(total: number): PickupProbe {
  const submittedAt = new Map<number, number>();
  const receivedAt = new Map<number, number>();
  const { promise, resolve } = Promise.withResolvers<undefined>();
  return {
    submitted(key) {
      submittedAt.set(key, performance.now());
    },
    received(key) {
      if (!receivedAt.has(key)) {
        receivedAt.set(key, performance.now());
        if (receivedAt.size === total) {
          resolve(undefined);
        }
      }
    },
    done: promise,
    get count() {
      return receivedAt.size;
    },
    latencies(skip) {
      return [...submittedAt]
        .slice(skip)
        .map(([key, at]) => Math.max(0, (receivedAt.get(key) ?? NaN) - at))
        .sort((a, b) => a - b);
    },
  };
}

/** Submissions in flight at most, when the queue answers slower than the pace. */
const maxInFlight = 100;

/**
 * Calls `submit(i)` for i = 0 … count-1, one every `intervalMs` on a fixed
 * schedule: a slow submission does not hold the next one back (up to
 * `maxInFlight` at once), so the queue gets one task per interval.
 */
export async function submitPaced(
  count: number,
  intervalMs: number,
  submit: (i: number) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const start = performance.now();
  const inFlight = new Set<Promise<void>>();
  const failures: unknown[] = [];
  for (let i = 0; i < count && failures.length === 0; i += 1) {
    signal.throwIfAborted();
    const wait = start + i * intervalMs - performance.now();
    if (wait > 0) {
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    if (inFlight.size >= maxInFlight) {
      await Promise.race(inFlight);
    }
    const submission = submit(i).then(
      () => undefined,
      (error: unknown) => {
        failures.push(error);
      },
    );
    inFlight.add(submission);
    void submission.finally(() => inFlight.delete(submission));
  }
  await Promise.all(inFlight);
  if (failures.length > 0) {
    throw new Error('a submission failed', { cause: failures[0] });
  }
}

/**
 * Runs `work` until it settles, or fails with what `progress` says when
 * `timeoutMs` pass or `signal` aborts; `work`'s own signal aborts then (and
 * once `work` settled), so that none of its loops outlives the call.
 */
export async function waitFor(
  work: (signal: AbortSignal) => Promise<void>,
  timeoutMs: number,
  signal: AbortSignal,
  progress: () => string,
): Promise<void> {
  const timeout = new AbortController();
  const timer = setTimeout(() => {
    timeout.abort(new Error(`timed out after ${timeoutMs / 1000} s: ${progress()}`));
  }, timeoutMs);
  const stopped = AbortSignal.any([timeout.signal, signal]);
  const settled = new AbortController();
  const interrupted = new Promise<never>((_resolve, reject) => {
    stopped.addEventListener(
      'abort',
      () => {
        reject(
          timeout.signal.aborted
            ? (timeout.signal.reason as Error)
            : new Error(`interrupted: ${progress()}`, { cause: signal.reason }),
        );
      },
      { once: true, signal: settled.signal },
    );
  });
  try {
    await Promise.race([work(AbortSignal.any([stopped, settled.signal])), interrupted]);
  } finally {
    clearTimeout(timer);
    settled.abort();
  }
}

/** The value at quantile `q` of sorted `values` (nearest rank). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) {
    return NaN;
  }
  const rank = Math.min(values.length, Math.max(1, Math.ceil(q * values.length)));
  return values[rank - 1] ?? NaN;
}
