import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ApiResponse } from './api.ts';
import {
  actorNames,
  type ActorName,
  type ArtifactFixture,
  type Cast,
  type Visibility,
  type WorkspaceFixture,
} from './permission-fixtures.ts';
import { expectedOutcome, type Outcome, type Rule } from './permission-rules.ts';

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

/** A cell in a workspace: its fixture names the workspace, public or private. */
export interface FixtureContext extends InstanceContext {
  readonly fixture: { readonly workspace: string };
  readonly visibility: Visibility;
}

export interface WorkspaceContext extends FixtureContext {
  readonly fixture: WorkspaceFixture;
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
export async function assertLooksAbsent<C extends FixtureContext>(
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

/**
 * Registers a row's cells for each caller, outside any workspace. `cast` gives
 * the cast, made when the suite starts.
 */
export function instanceCells(row: Row<InstanceContext, Rule>, cast: () => Cast): void {
  for (const actor of actorNames) {
    const expected = expectedOutcome(row.rule, actor, row.status);
    it(`${actor}: ${describeOutcome(expected)}`, async () => {
      const context = { cast: cast(), actor };
      await row.prepare?.(context);
      const response = await send(row, context);
      assertOutcome(response, expected);
      if (expected.code === undefined) {
        row.check?.(response, context);
      }
    });
  }
}

export const visibilities: readonly Visibility[] = ['public', 'private'];

/** Where the cells of a row get their fixtures, and how a cell's context is made. */
export interface CellSource<C extends FixtureContext, F> {
  /** The fixture for a cell of `row`: fresh when the cell changes it. */
  fixtureFor(row: Row<C, string>, visibility: Visibility): Promise<F>;
  /** A fixture of names and ids that exist nowhere. */
  readonly ghost: F;
  contextOf(fixture: F, actor: ActorName, visibility: Visibility): C;
}

/**
 * Registers a row's cells for each visibility and caller, each expecting what
 * `rule` says. A refusal that hides a workspace (and, under `machine` and
 * `signed`, every refusal) must look exactly like the answer about one that does not exist.
 */
export function visibilityCells<C extends FixtureContext, F>(
  row: Row<C, string>,
  rule: Rule,
  label: string,
  source: CellSource<C, F>,
): void {
  for (const visibility of visibilities) {
    for (const actor of actorNames) {
      const expected = expectedOutcome(rule, actor, row.status, visibility);
      it(`${actor}, ${visibility}${label}: ${describeOutcome(expected)}`, async () => {
        const fixture = await source.fixtureFor(row, visibility);
        const context = source.contextOf(fixture, actor, visibility);
        await row.prepare?.(context);
        const response = await send(row, context);
        assertOutcome(response, expected);
        if (expected.code === undefined) {
          row.check?.(response, context);
        } else if (expected.code === 'not_found' || rule === 'machine' || rule === 'signed') {
          const ghost = source.contextOf(source.ghost, actor, visibility);
          await assertLooksAbsent(row, { context, response }, ghost);
        }
      });
    }
  }
}

/**
 * Fixtures for the cells of rows whose changes leave a fixture usable: one per
 * visibility, shared, except for a deletion's cells, which get a fresh one each.
 */
export function fixturesSharedButDeletes<F>(
  create: (visibility: Visibility) => Promise<F>,
): (row: { readonly method: string }, visibility: Visibility) => Promise<F> {
  const shared = new Map<Visibility, Promise<F>>();
  return (row, visibility) => {
    if (row.method === 'DELETE') {
      return create(visibility);
    }
    const fixture = shared.get(visibility) ?? create(visibility);
    shared.set(visibility, fixture);
    return fixture;
  };
}
