import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ByteRange, StoredContent } from '../files/file-store.ts';

/**
 * Sends stored content as the body of a reply whose status and headers are
 * set, then closes the content. The reply is hijacked so that the file store
 * writes straight to the response with buffers it reuses, instead of Fastify
 * piping a stream of newly allocated ones; Fastify's onResponse hooks (the
 * request log) still run.
 */
export async function sendContent(
  request: FastifyRequest,
  reply: FastifyReply,
  content: StoredContent,
  range: ByteRange | undefined,
): Promise<void> {
  reply.hijack();
  const response = reply.raw;
  try {
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) {
        response.setHeader(name, value);
      }
    }
    response.writeHead(reply.statusCode);
    if (request.method !== 'HEAD') {
      await content.sendTo(response, range);
    }
    response.end();
  } catch (error) {
    // The status line is gone: a client learns of the failure from the cut connection.
    request.log.info({ err: error }, 'download ended early');
    response.destroy();
  } finally {
    await content.close();
  }
}
