import { setTimeout as sleep } from 'node:timers/promises';
import { ClientError } from '../client/client.ts';

/**
 * Runs `call`, and while it fails for a transient reason (server unreachable or
 * failing) tries again with exponential backoff and jitter, from 0.5 s up to
 * 30 s between tries, until it succeeds, fails for good, or `signal` aborts.
 */
export async function retrying<T>(call: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (let delay = 500; ; delay = Math.min(delay * 2, 30_000)) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof ClientError) || !error.transient || signal.aborted) {
        throw error;
      }
      await sleep(delay / 2 + Math.random() * (delay / 2), undefined, { signal });
    }
  }
}
