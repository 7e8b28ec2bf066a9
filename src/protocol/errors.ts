/**
 * kiln's error codes: stable strings a client may branch on. The server maps each
 * code to an HTTP status in exactly one place (`server/http/error-handler.ts`); a
 * client receives `{ "error": { "code", "message" } }` and never a stack.
 */
export const errorCodes = [
  'bad_request',
  'validation_failed',
  'malformed_json',
  'unsupported_media_type',
  'invalid_file_name',
  'invalid_relation_type',
  'unauthenticated',
  'invalid_credentials',
  'token_expired',
  'forbidden',
  'insufficient_scope',
  'not_found',
  'already_exists',
  'conflict',
  'artifact_immutable',
  'artifact_in_use',
  'workspace_in_use',
  'size_mismatch',
  'sha256_mismatch',
  'too_large',
  'incomplete_upload',
  'range_not_satisfiable',
  'unknown_task_type',
  'invalid_task_input',
  'stale_attempt',
  'task_not_running',
  'worker_disabled',
  'invalid_signature',
  'replayed_delivery',
  'stale_delivery',
  'unknown_workflow',
  'invalid_workflow_parameters',
  'internal',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

/** The body of every error response. */
export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string };
}

/** An error with a stable code; its message is safe to show to the client. */
export class KilnError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KilnError';
    this.code = code;
  }
}

/** Whether a value is an error body as the server sends it. */
export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null || !('error' in value)) {
    return false;
  }
  const error = value.error;
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { message?: unknown }).message === 'string'
  );
}
