import type { FastifyReply, FastifyRequest } from 'fastify';
import parseRange from 'range-parser';
import { sendContent } from '../artifacts/content-reply.ts';
import type { FileStore } from '../files/file-store.ts';
import { respond } from './error-handler.ts';

export interface StoredFile {
  readonly sha256: string;
  readonly size: number;
  /** For messages. */
  readonly name: string;
  readonly contentType: string;
  readonly cacheControl: string;
  readonly disposition?: string;
}

/**
 * Replies with stored content: a strong ETag (its sha256), If-None-Match,
 * If-Range and single byte ranges (RFC 9110 §13, §14), HEAD, and a 416 with
 * `Content-Range: bytes *\/size` for a range outside the content.
 */
export async function replyWithStoredFile(
  request: FastifyRequest,
  reply: FastifyReply,
  store: FileStore,
  file: StoredFile,
): Promise<FastifyReply | undefined> {
  const etag = `"${file.sha256}"`;
  void reply
    .header('accept-ranges', 'bytes')
    .header('etag', etag)
    .header('cache-control', file.cacheControl)
    .header('content-type', file.contentType);
  if (file.disposition !== undefined) {
    void reply.header('content-disposition', file.disposition);
  }
  if (request.headers['if-none-match'] === etag) {
    return reply.status(304).send();
  }
  const ifRange = request.headers['if-range'];
  const rangeHeader = ifRange === undefined || ifRange === etag ? request.headers.range : undefined;
  // RFC 9110 §14.2: a server MUST ignore a Range header in a unit it does not know.
  const ranges =
    rangeHeader === undefined || !/^bytes=/i.test(rangeHeader)
      ? undefined
      : parseRange(file.size, rangeHeader, { combine: true });
  if (ranges === -1) {
    const { status, body } = respond(
      'range_not_satisfiable',
      `${rangeHeader ?? ''} is outside the ${file.size} bytes of ${file.name}`,
    );
    return reply
      .status(status)
      .header('content-range', `bytes */${file.size}`)
      .header('content-type', 'application/json; charset=utf-8')
      .send(body);
  }
  // A malformed Range header, or several ranges, get the whole content (RFC 9110 §14.2).
  const range = Array.isArray(ranges) && ranges.length === 1 ? ranges[0] : undefined;
  const content = await store.openContent(file.sha256);
  if (range === undefined) {
    void reply.header('content-length', file.size);
  } else {
    void reply
      .status(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${file.size}`)
      .header('content-length', range.end - range.start + 1);
  }
  await sendContent(request, reply, content, range);
  return undefined;
}
