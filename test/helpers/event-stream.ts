import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { TestServer } from './server.ts';

/** One server-sent event: its name and its data lines joined. */
export interface ServerEvent {
  readonly event: string;
  readonly data: string;
}

/** A GET with `Accept: text/event-stream` over a real socket, read as it arrives. */
export interface EventStream {
  readonly status: Promise<number>;
  readonly headers: Promise<IncomingMessage['headers']>;
  /** Every event received so far, in order. */
  readonly events: readonly ServerEvent[];
  /** Resolves when `count` events have arrived; fails after `limitMs`. */
  waitForEvents(count: number, limitMs?: number): Promise<readonly ServerEvent[]>;
  /** Resolves when the server ended the response; fails after `limitMs`. */
  waitForEnd(limitMs?: number): Promise<void>;
  close(): void;
}

/** Parses an event-stream block (`event:` and `data:` lines; RFC-less, as the HTML spec says). */
function parseBlock(block: string): ServerEvent | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) {
      event = line.slice(6).trim();
    } else if (line.startsWith('data:')) {
      data.push(line.slice(5).replace(/^ /, ''));
    }
  }
  return data.length === 0 && event === 'message' ? undefined : { event, data: data.join('\n') };
}

/** Opens `path` on the server as an event stream, with `token` as bearer. */
export function openEventStream(server: TestServer, path: string, token: string): EventStream {
  const events: ServerEvent[] = [];
  let ended = false;
  let failure: Error | undefined;
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const listener of listeners) {
      listener();
    }
  };
  let buffer = '';
  // No keep-alive agent: a connection must not outlive its test's server.
  const request = httpRequest(new URL(path, server.url), {
    headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
    agent: false,
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    request.on('response', resolve);
    request.on('error', reject);
  });
  response.then(
    (message) => {
      message.setEncoding('utf8');
      message.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const parsed = parseBlock(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (parsed !== undefined) {
            events.push(parsed);
          }
        }
        changed();
      });
      message.on('end', () => {
        ended = true;
        changed();
      });
      message.on('error', (error) => {
        failure = error;
        changed();
      });
    },
    (error: unknown) => {
      failure = error as Error;
      changed();
    },
  );
  request.end();

  const waitFor = (what: string, done: () => boolean, limitMs: number) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (failure !== undefined) {
          finish();
          reject(failure);
        } else if (done()) {
          finish();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new assert.AssertionError({
            message: `timed out waiting for ${what}; got ${JSON.stringify(events)}`,
          }),
        );
      }, limitMs);
      const finish = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });

  return {
    status: response.then((m) => m.statusCode ?? 0),
    headers: response.then((m) => m.headers),
    events,
    async waitForEvents(count, limitMs = 10_000) {
      await waitFor(`${count} events`, () => events.length >= count, limitMs);
      return events.slice(0, count);
    },
    async waitForEnd(limitMs = 10_000) {
      await waitFor('the end of the response', () => ended, limitMs);
    },
    close() {
      request.destroy();
    },
  };
}
