import type { Readable } from 'node:stream';

/** One server-sent event (WHATWG HTML §9.2). */
export interface ServerSentEvent {
  readonly event: string;
  readonly data: string;
}

/** Parses a text/event-stream into events, as they arrive. */
export async function* readServerSentEvents(stream: Readable): AsyncGenerator<ServerSentEvent> {
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    buffer += decoder.decode(chunk as Buffer, { stream: true });
    let end: number;
    while ((end = buffer.search(/\r?\n\r?\n/)) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event:')) {
          event = line.slice(6).trim();
        } else if (line.startsWith('data:')) {
          data.push(line.slice(5).replace(/^ /, ''));
        }
      }
      yield { event, data: data.join('\n') };
    }
  }
}
