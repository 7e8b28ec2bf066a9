import type { Client } from '../client/client.ts';
import { retrying } from './retry.ts';

const flushIntervalMs = 250;
const maxChunkChars = 64 * 1024;

/**
 * Sends a task's output to the server's live log in chunks: every 250 ms, or
 * sooner when 64 KiB are waiting. A flush that fails for a transient reason is
 * retried with the text kept, so nothing is lost while the server is away.
 * The server's answer says whether the task was cancelled.
 */
export interface LogSender {
  write(text: string): void;
  /** Sends everything written so far. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export function createLogSender(
  client: Client,
  taskId: number,
  onCancel: () => void,
  signal: AbortSignal,
): LogSender {
  let pending = '';
  let sending: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    void flush();
  }, flushIntervalMs);

  function flush(): Promise<void> {
    sending = sending.then(async () => {
      while (pending.length > 0) {
        const chunk = pending.slice(0, maxChunkChars);
        const ack = await retrying(
          () => client.json<{ cancel: boolean }>('POST', `/api/v1/tasks/${taskId}/log`, chunk),
          signal,
        ).catch(() => undefined);
        if (ack === undefined) {
          // Stale attempt or stopped worker: this attempt's log is over.
          pending = '';
          return;
        }
        pending = pending.slice(chunk.length);
        if (ack.cancel) {
          onCancel();
        }
      }
    });
    return sending;
  }

  return {
    write(text) {
      pending += text;
      if (pending.length >= maxChunkChars) {
        void flush();
      }
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
