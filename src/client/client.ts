import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { isErrorBody, type ErrorCode } from '../protocol/errors.ts';

/**
 * An error from talking to a kiln server: `code` is the server's error code
 * when it sent one, `network` when it could not be reached, `usage` for a
 * mistake caught before asking; `status` is the HTTP status, if any.
 */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  readonly code: ErrorCode | 'usage' | 'network' | undefined;
  readonly status: number | undefined;

  constructor(
    message: string,
    code?: ErrorCode | 'usage' | 'network',
    options?: ErrorOptions & { status?: number },
  ) {
    super(message, options);
    this.code = code;
    this.status = options?.status;
  }

  /** Whether trying again later may succeed: the server was unreachable or failed. */
  get transient(): boolean {
    return this.code === 'network' || (this.status !== undefined && this.status >= 500);
  }
}

export interface RequestOptions {
  readonly signal?: AbortSignal | undefined;
}

/** A kiln API client over HTTP, for one server and token. */
export interface Client {
  readonly server: string;
  json<T>(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<T>;
  /** Sends a stream as the body of a PUT (uploads), with its length. */
  upload<T>(path: string, body: Readable, length: number): Promise<T>;
  /** Opens a download (or any streamed GET); the caller consumes the response. */
  download(path: string, headers?: Record<string, string>): Promise<IncomingMessage>;
}

/** A signal of its own that follows `outer` until `unlink` (none without `outer`). */
function linkSignal(
  outer: AbortSignal | undefined,
): { readonly signal: AbortSignal; unlink(): void } | undefined {
  if (outer === undefined) {
    return undefined;
  }
  const controller = new AbortController();
  const abort = () => {
    controller.abort(outer.reason);
  };
  if (outer.aborted) {
    abort();
  } else {
    outer.addEventListener('abort', abort, { once: true });
  }
  return {
    signal: controller.signal,
    unlink: () => {
      outer.removeEventListener('abort', abort);
    },
  };
}

export function createClient(server: string, token: string | undefined): Client {
  const auth: Record<string, string> =
    token === undefined ? {} : { authorization: `Bearer ${token}` };
  const base = server.replace(/\/+$/, '');

  return {
    server: base,
    async json<T>(
      method: string,
      path: string,
      body?: unknown,
      options: RequestOptions = {},
    ): Promise<T> {
      let response: Response;
      // fetch leaves its listener on the signal it is given until the request
      // is garbage collected: a worker's long-lived signal would gather one per
      // request, and each addEventListener scans them all. A signal per request,
      // linked here and unlinked when done, keeps the long-lived one light.
      const linked = linkSignal(options.signal);
      try {
        response = await fetch(base + path, {
          method,
          ...(linked === undefined ? {} : { signal: linked.signal }),
          headers: {
            ...auth,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (error) {
        linked?.unlink();
        throw networkError(base, error);
      }
      const text = await response
        .text()
        .catch((error: unknown) => {
          throw networkError(base, error);
        })
        .finally(() => linked?.unlink());
      const parsed: unknown = text.length === 0 ? undefined : parseJson(text);
      if (!response.ok) {
        throw fromResponse(response.status, parsed);
      }
      return parsed as T;
    },

    upload<T>(path: string, body: Readable, length: number): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const url = new URL(base + path);
        const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
        const request = send(url, {
          method: 'PUT',
          headers: {
            ...auth,
            'content-type': 'application/octet-stream',
            'content-length': length,
          },
        });
        request.on('error', (error) => {
          reject(networkError(base, error));
        });
        request.on('response', (response) => {
          readAll(response).then((text) => {
            const parsed: unknown = text.length === 0 ? undefined : parseJson(text);
            if ((response.statusCode ?? 500) >= 400) {
              reject(fromResponse(response.statusCode ?? 500, parsed));
            } else {
              resolve(parsed as T);
            }
          }, reject);
        });
        body.on('error', (error) => {
          request.destroy(error);
        });
        body.pipe(request);
      });
    },

    download(path: string, headers: Record<string, string> = {}): Promise<IncomingMessage> {
      return new Promise((resolve, reject) => {
        const url = new URL(base + path);
        const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
        const request = send(url, { method: 'GET', headers: { ...auth, ...headers } });
        request.on('error', (error) => {
          reject(networkError(base, error));
        });
        request.on('response', (response) => {
          if ((response.statusCode ?? 500) >= 400) {
            readAll(response).then((text) => {
              reject(
                fromResponse(
                  response.statusCode ?? 500,
                  text.length > 0 ? parseJson(text) : undefined,
                ),
              );
            }, reject);
          } else {
            resolve(response);
          }
        });
        request.end();
      });
    },
  };
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function fromResponse(status: number, body: unknown): ClientError {
  if (isErrorBody(body)) {
    return new ClientError(body.error.message, body.error.code, { status });
  }
  return new ClientError(`the server answered HTTP ${status}`, undefined, { status });
}

function networkError(server: string, error: unknown): ClientError {
  const cause = error instanceof Error ? (error.cause ?? error) : error;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new ClientError(`cannot reach ${server}: ${detail}`, 'network', { cause: error });
}

/** The sha256 and size of a stream's content. */
export async function digestStream(
  stream: Readable,
  onBytes?: (n: number) => void,
): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    size += buffer.length;
    onBytes?.(buffer.length);
  }
  return { sha256: hash.digest('hex'), size };
}
