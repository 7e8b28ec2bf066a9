import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** The longest the wait may last, in milliseconds (default 30 s). */
  readonly timeoutMs?: number;
  /** Pause between two probes, in milliseconds (default 100). */
  readonly intervalMs?: number;
}

/**
 * Calls `probe` until it returns something other than `undefined`, and returns
 * that. The wait is bounded twice: at most `timeoutMs / intervalMs` probes and
 * at most `timeoutMs`. A probe that throws counts as "not yet" (a server that
 * is restarting refuses connections); when the wait gives up, its error says
 * what it waited for, with the last thrown error or the last `describe()`.
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  options: WaitOptions & { readonly describe?: () => string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  const maxProbes = Math.ceil(timeoutMs / intervalMs) + 1;
  let lastError: unknown;
  for (let probes = 0; probes < maxProbes && Date.now() <= deadline; probes++) {
    try {
      const value = await probe();
      if (value !== undefined) {
        return value;
      }
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  const detail =
    lastError !== undefined
      ? `; last error: ${(lastError as Error).message}`
      : options.describe === undefined
        ? ''
        : `; last seen: ${options.describe()}`;
  throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}${detail}`);
}
