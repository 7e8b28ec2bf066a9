import type { FastifyReply } from 'fastify';

/** A server-sent event stream (HTML Living Standard §9.2) on a hijacked reply. */
export interface EventStream {
  /** Aborted when the client goes away or the server closes. */
  readonly signal: AbortSignal;
  /** Sends one event whose data is `value` as JSON, waiting while the socket is full. */
  send(event: string, value: unknown): Promise<void>;
  /** Ends the stream: an `end` event when it finished, a reset when the server is closing. */
  end(): FastifyReply;
}

/** Starts an event stream now: call it once access has been checked. */
export function openEventStream(reply: FastifyReply, closing: AbortSignal): EventStream {
  const gone = new AbortController();
  reply.raw.on('close', () => {
    gone.abort();
  });
  reply.hijack();
  reply.raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    // Proxies such as nginx would otherwise hold the events back.
    'x-accel-buffering': 'no',
  });
  // A comment line, so the browser sees the stream open before the first event.
  reply.raw.write(': open\n\n');
  const signal = AbortSignal.any([gone.signal, closing]);
  return {
    signal,
    async send(event, value) {
      if (!reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(value)}\n\n`)) {
        await new Promise((resolve) => reply.raw.once('drain', resolve));
      }
    },
    end() {
      if (closing.aborted) {
        // Broken off: the browser must reconnect, not take it for the end of the log.
        reply.raw.destroy();
      } else {
        reply.raw.end('event: end\ndata: {}\n\n');
      }
      return reply;
    },
  };
}
