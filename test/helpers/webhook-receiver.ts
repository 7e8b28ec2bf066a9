import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the receiver got. */
export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * An HTTP endpoint on 127.0.0.1 that records what is POSTed to it and answers
 * each request with the next status of `statuses` (the last one repeats):
 * the other end of kiln's outbound webhooks.
 */
export async function startWebhookReceiver(statuses: readonly number[] = [200]) {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.statusCode = statuses[Math.min(received.length, statuses.length) - 1] ?? 200;
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}

/**
 * Asserts a request carries kiln's signature, `t=<unix seconds>,v1=<hex
 * HMAC-SHA256 of "<t>.<body>">` keyed with `secret`; returns its JSON body.
 */
export function assertSigned(request: Received, secret: string): unknown {
  const signature = String(request.headers['x-kiln-signature']);
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature);
  assert.ok(match, signature);
  const expected = createHmac('sha256', secret).update(`${match[1]}.${request.body}`).digest('hex');
  assert.equal(match[2], expected, 'HMAC-SHA256 of "<t>.<body>" with the secret');
  return JSON.parse(request.body);
}
