/**
 * Wakes long-polling claimers when tasks become pending. A notification that
 * `k` tasks are pending wakes up to `k` waiters, longest-waiting first; a woken
 * waiter that finds nothing it can run passes the wake to the next one, at most
 * once round the waiters, so a task only some workers fit still finds one of
 * them without waking every worker for every task.
 */
export interface Wakeups {
  /** Resolves when woken (`true`) or after `timeoutMs` or on abort (`false`). */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<Wake | undefined>;
  /** `count` tasks may have become pending. */
  notify(count: number): void;
  /** How many claimers are waiting now. */
  readonly waiting: number;
}

/** A wake-up; `passOn` hands it to the next waiter when this one could not use it. */
export interface Wake {
  passOn(): void;
}

interface Waiter {
  readonly resolve: (wake: Wake | undefined) => void;
}

interface Wave {
  /** Waiters this wave may still wake, so that it goes round at most once. */
  budget: number;
}

export function createWakeups(): Wakeups {
  const queue: Waiter[] = [];

  const wakeOne = (wave: Wave): boolean => {
    const waiter = queue.shift();
    if (waiter === undefined || wave.budget <= 0) {
      if (waiter !== undefined) {
        queue.unshift(waiter);
      }
      return false;
    }
    wave.budget -= 1;
    let passed = false;
    waiter.resolve({
      passOn() {
        if (!passed) {
          passed = true;
          wakeOne(wave);
        }
      },
    });
    return true;
  };

  return {
    get waiting() {
      return queue.length;
    },
    wait(timeoutMs, signal) {
      return new Promise((resolve) => {
        if (signal?.aborted === true) {
          resolve(undefined);
          return;
        }
        const finish = (wake: Wake | undefined) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const index = queue.indexOf(waiter);
          if (index !== -1) {
            queue.splice(index, 1);
          }
          resolve(wake);
        };
        const onAbort = () => {
          finish(undefined);
        };
        const waiter: Waiter = { resolve: finish };
        const timer = setTimeout(() => {
          finish(undefined);
        }, timeoutMs);
        signal?.addEventListener('abort', onAbort, { once: true });
        queue.push(waiter);
      });
    },
    notify(count) {
      const waves = Math.min(Math.max(count, 1), queue.length);
      for (let i = 0; i < waves; i += 1) {
        // Each wave may go round all current waiters once.
        if (!wakeOne({ budget: queue.length })) {
          break;
        }
      }
    },
  };
}
