import type { OpenDatabase } from '../db/connect.ts';
import { taskLogChannel } from './task-log.repository.ts';

/** Wakes the followers of a task's live log when a chunk is appended (on any server). */
export interface LogFollowers {
  /** Waits for news of `taskId`'s log, at most `timeoutMs`. */
  wait(taskId: number, timeoutMs: number, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export async function createLogFollowers(database: OpenDatabase): Promise<LogFollowers> {
  const waiting = new Map<number, Set<() => void>>();
  const unlisten = await database.listen(taskLogChannel, (payload) => {
    const wakers = waiting.get(Number(payload));
    for (const wake of wakers ?? []) {
      wake();
    }
  });
  return {
    wait(taskId, timeoutMs, signal) {
      return new Promise((resolve) => {
        const set = waiting.get(taskId) ?? new Set<() => void>();
        waiting.set(taskId, set);
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          set.delete(done);
          if (set.size === 0) {
            waiting.delete(taskId);
          }
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        signal.addEventListener('abort', done, { once: true });
        set.add(done);
      });
    },
    close: unlisten,
  };
}
