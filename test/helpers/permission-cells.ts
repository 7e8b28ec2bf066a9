import assert from 'node:assert/strict';
import type { ApiResponse } from './api.ts';
import type {
  ActorName,
  ArtifactFixture,
  Cast,
  Visibility,
  WorkspaceFixture,
} from './permission-fixtures.ts';

/** What a cell of the permission matrix expects: a status, and an error code on failure. */
export interface Outcome {
  readonly status: number;
  readonly code?: string;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One request: the path's parameters, a body and headers. */
export interface Call {
  readonly params?: Readonly<Record<string, string | number>>;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A row of the matrix: one operation, the rule that governs it, and how to call it. */
export interface Row<Context, Rule extends string> {
  readonly method: Method;
  /** As in the OpenAPI document. */
  readonly path: string;
  /** Which of several rows of one operation this is. */
  readonly does?: string;
  readonly rule: Rule;
  /** The status of success. */
  readonly status: number;
  /** Set-up for the cell, done by someone allowed to. */
  prepare?(context: Context): Promise<void>;
  /** The request; for workspace and artifact rows, without side effects. */
  call(context: Context): Call | Promise<Call>;
  /** More to assert about a successful answer. */
  check?(response: ApiResponse, context: Context): void;
}

export interface InstanceContext {
  readonly cast: Cast;
  readonly actor: ActorName;
}

export interface WorkspaceContext extends InstanceContext {
  readonly fixture: WorkspaceFixture;
  readonly visibility: Visibility;
}

export interface ArtifactContext extends WorkspaceContext {
  readonly artifact: ArtifactFixture;
}

/** A row's title: its operation, and what it does when an operation has several rows. */
export function titleOf(row: Row<never, string>): string {
  return `${row.method} ${row.path}${row.does === undefined ? '' : ` (${row.does})`}`;
}

export function describeOutcome({ status, code }: Outcome): string {
  return `${status}${code === undefined ? '' : ` ${code}`}`;
}

/** Fills an OpenAPI path template (`/artifacts/{id}/files/{*}`) with parameters. */
export function fillPath(
  path: string,
  params: Readonly<Record<string, string | number>> = {},
): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = params[name];
    assert.notEqual(value, undefined, `${path} needs the parameter ${name}`);
    return name === '*' ? String(value) : encodeURIComponent(String(value));
  });
}

/** Sends a row's request as the context's actor. */
export async function send<C extends InstanceContext>(
  row: Row<C, string>,
  context: C,
): Promise<ApiResponse> {
  const { params, body, headers } = await row.call(context);
  return context.cast.as(context.actor).call(row.method, fillPath(row.path, params), body, headers);
}

function errorOf(response: ApiResponse): { code?: string; message?: string } {
  const body: unknown = response.body;
  return typeof body === 'object' && body !== null && 'error' in body
    ? (body.error as { code?: string; message?: string })
    : {};
}

export function assertOutcome(response: ApiResponse, expected: Outcome): void {
  assert.deepEqual(
    { status: response.status, code: errorOf(response).code },
    { status: expected.status, code: expected.code },
    JSON.stringify(response.body),
  );
}

/**
 * A hidden workspace or artifact must answer exactly as one that does not
 * exist: the same request in `ghost`, a context of names and ids that exist
 * nowhere, gets the same status, code and message (up to those names and ids).
 */
export async function assertLooksAbsent<C extends WorkspaceContext>(
  row: Row<C, string>,
  hidden: { readonly context: C; readonly response: ApiResponse },
  ghost: C,
): Promise<void> {
  const absent = await send(row, ghost);
  const normalise = (response: ApiResponse, workspace: string) => ({
    status: response.status,
    code: errorOf(response).code,
    message: errorOf(response).message?.replaceAll(workspace, '<workspace>').replace(/\d+/g, '<n>'),
  });
  assert.deepEqual(
    normalise(hidden.response, hidden.context.fixture.workspace),
    normalise(absent, ghost.fixture.workspace),
  );
}
