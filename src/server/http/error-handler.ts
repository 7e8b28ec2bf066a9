import type { FastifyError, FastifyInstance } from 'fastify';
import { KilnError, type ErrorBody, type ErrorCode } from '../../protocol/errors.ts';

/** The one place where kiln's error codes become HTTP statuses. */
const statusOf: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400,
  validation_failed: 400,
  malformed_json: 400,
  invalid_file_name: 400,
  invalid_relation_type: 400,
  size_mismatch: 400,
  sha256_mismatch: 400,
  unauthenticated: 401,
  invalid_credentials: 401,
  token_expired: 401,
  forbidden: 403,
  insufficient_scope: 403,
  not_found: 404,
  already_exists: 409,
  conflict: 409,
  artifact_immutable: 409,
  artifact_in_use: 409,
  workspace_in_use: 409,
  incomplete_upload: 409,
  too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  unknown_task_type: 400,
  invalid_task_input: 400,
  stale_attempt: 409,
  task_not_running: 409,
  worker_disabled: 403,
  invalid_signature: 401,
  replayed_delivery: 409,
  stale_delivery: 409,
  unknown_workflow: 400,
  invalid_workflow_parameters: 400,
  internal: 500,
};

/** Fastify's own errors that are the client's fault, as kiln codes. */
const fastifyCodes: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_BAD_URL: 'bad_request',
  FST_ERR_VALIDATION: 'validation_failed',
};

export interface ErrorResponse {
  readonly status: number;
  readonly body: ErrorBody;
}

/** Turns any thrown value into the response a client gets. */
export function toErrorResponse(error: unknown): ErrorResponse {
  if (error instanceof KilnError) {
    return respond(error.code, error.message);
  }
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation !== undefined) {
    return respond('validation_failed', fastifyError.message ?? 'the request is not valid');
  }
  const code = fastifyError.code === undefined ? undefined : fastifyCodes[fastifyError.code];
  if (code !== undefined) {
    return respond(code, fastifyError.message ?? code);
  }
  return respond('internal', 'internal server error');
}

export function respond(code: ErrorCode, message: string): ErrorResponse {
  return { status: statusOf[code], body: { error: { code, message } } };
}

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const response = toErrorResponse(error);
    if (response.status >= 500) {
      request.log.error({ err: error }, 'request failed');
    }
    return reply.status(response.status).send(response.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const response = respond('not_found', `no such endpoint: ${request.method} ${request.url}`);
    return reply.status(response.status).send(response.body);
  });
}
