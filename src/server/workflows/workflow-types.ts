import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { KilnError } from '../../protocol/errors.ts';
import type { Requirements } from '../../protocol/tasks.schema.ts';
import type { Db } from '../db/connect.ts';
import type { TaskResultColumn, TaskStateColumn, WorkflowRunRow } from '../db/schema.ts';

/** One task of a run as its workflow sees it. */
export interface StepTask {
  readonly id: number;
  readonly step: string;
  readonly type: string;
  readonly state: TaskStateColumn;
  readonly result: TaskResultColumn | null;
  readonly reason: string | null;
  readonly message: string | null;
  readonly output: Record<string, unknown> | null;
}

/** A task a workflow asks for: like a submitted task, with steps instead of task ids. */
export interface StepRequest {
  readonly type: string;
  readonly input: Record<string, unknown>;
  /** Steps of the same run this one waits for (they must exist already). */
  readonly dependsOn?: readonly string[];
  /** Input fields filled from a dependency step's output when it succeeds. */
  readonly bindings?: readonly { field: string; step: string; output: string }[];
  readonly requirements?: Requirements;
  readonly timeLimit?: number;
}

/**
 * What a workflow's code gets each time the engine calls it, inside the
 * engine's transaction (which holds the run's lock: one call at a time).
 */
export interface WorkflowContext<P = Record<string, unknown>> {
  readonly db: Db;
  readonly run: WorkflowRunRow;
  readonly parameters: P;
  /** The run's tasks by step. */
  readonly steps: ReadonlyMap<string, StepTask>;
  /** Submits a task as `step` of the run, unless it has that step; returns the task's id. */
  submit(step: string, request: StepRequest): Promise<number>;
  /**
   * Starts another run of a built-in workflow as a child of this one, unless
   * the run has a child of that workflow already; returns the child's id.
   */
  startChild(workflow: string, parameters: Record<string, unknown>): Promise<number>;
}

/** What a workflow settles when a run starts, after checking its parameters. */
export interface RunPreparation {
  /** Still-running runs of the workspace with this key are superseded by the new one. */
  readonly supersedeKey?: string;
  /** The artifact the run goes with when it expires. */
  readonly artifactId?: number;
}

/** What a workflow may look up when a run starts. */
export interface PrepareContext {
  readonly db: Db;
  readonly workspaceId: number;
}

/**
 * A built-in workflow: server-side code, registered by name. `advance` is
 * called when a run starts and after each change of one of its tasks; it
 * submits the tasks the run needs now (steps it has are not submitted again).
 * A run's status follows from its tasks' results.
 */
export interface WorkflowType<S extends TSchema = TSchema> {
  readonly name: string;
  readonly description: string;
  readonly parameters: S;
  /** Checks what the schema cannot (a repository exists...); throws a KilnError. */
  prepare?(context: PrepareContext, parameters: Static<S>): Promise<RunPreparation>;
  advance(context: WorkflowContext<Static<S>>): Promise<void>;
}

/** The workflows a server knows, by name. */
export interface WorkflowTypeRegistry {
  get(name: string): WorkflowType | undefined;
  list(): readonly WorkflowType[];
  /** Returns the workflow or throws `unknown_workflow`. */
  require(name: string): WorkflowType;
  /** Validates parameters against the workflow's schema; throws `invalid_workflow_parameters`. */
  checkParameters(type: WorkflowType, parameters: unknown): Record<string, unknown>;
}

export function createWorkflowTypeRegistry(types: readonly WorkflowType[]): WorkflowTypeRegistry {
  const byName = new Map(types.map((t) => [t.name, t]));
  const validators = new Map(types.map((t) => [t.name, Compile(t.parameters)]));
  const list = [...types].sort((a, b) => a.name.localeCompare(b.name));
  return {
    get: (name) => byName.get(name),
    list: () => list,
    require(name) {
      const type = byName.get(name);
      if (type === undefined) {
        throw new KilnError(
          'unknown_workflow',
          `${JSON.stringify(name)} is not a workflow (${list.map((t) => t.name).join(', ')})`,
        );
      }
      return type;
    },
    checkParameters(type, parameters) {
      const validator = validators.get(type.name);
      if (validator === undefined || !validator.Check(parameters)) {
        const first = validator?.Errors(parameters)[0];
        const where = first === undefined ? '' : `${first.instancePath || '/'} ${first.message}`;
        throw new KilnError(
          'invalid_workflow_parameters',
          `parameters of ${type.name}: ${where}`.trim(),
        );
      }
      return parameters as Record<string, unknown>;
    },
  };
}

/** Defines a workflow with its parameters typed. */
export function defineWorkflow<S extends TSchema>(type: WorkflowType<S>): WorkflowType {
  return type;
}
