import { sql } from 'kysely';
import { KilnError } from '../../protocol/errors.ts';
import type { Db } from '../db/connect.ts';
import type { TaskRow, WorkflowRunRow } from '../db/schema.ts';
import { withPlaceholders } from '../scheduler/task-bindings.ts';
import { insertCheckedTask } from '../scheduler/task-insert.ts';
import { endTask } from '../scheduler/task-lifecycle.ts';
import { retryLockedTask, type TaskDeps } from '../scheduler/task.service.ts';
import { lockTask } from '../scheduler/task.repository.ts';
import { runStanding, shouldRetry } from './run-status.ts';
import type {
  StepRequest,
  StepTask,
  WorkflowContext,
  WorkflowTypeRegistry,
} from './workflow-types.ts';
import { insertEvent, listRunTasks, updateRun } from './workflow.repository.ts';

/** What the engine needs to move runs on. */
export interface EngineDeps {
  readonly db: Db;
  readonly tasks: TaskDeps;
  readonly workflows: WorkflowTypeRegistry;
}

/** Starts a child run (set by the service that creates runs: it checks and prepares it). */
export type ChildStarter = (
  trx: Db,
  parent: WorkflowRunRow,
  workflow: string,
  parameters: Record<string, unknown>,
) => Promise<number>;

/**
 * Moves a running run on, in the caller's transaction, which holds the run's
 * lock: retries its errored tasks as the policy allows, lets its workflow
 * submit what it needs now, and ends the run when all its tasks have ended.
 * A workflow that throws a KilnError makes the caller's transaction fail.
 */
export async function advanceLockedRun(
  trx: Db,
  deps: EngineDeps,
  run: WorkflowRunRow,
  startChild: ChildStarter,
): Promise<void> {
  if (run.status !== 'running') {
    return;
  }
  for (const task of await listRunTasks(trx, run.id)) {
    if (shouldRetry(task, run.max_retries)) {
      const row = await lockTask(trx, task.id);
      if (row !== undefined) {
        await retryLockedTask(trx, row);
        await trx
          .updateTable('tasks')
          .set({ run_retries: task.retries + 1 })
          .where('id', '=', task.id)
          .execute();
      }
    }
  }
  const steps = new Map<string, StepTask>();
  for (const task of await listRunTasks(trx, run.id)) {
    steps.set(task.step ?? `task-${task.id}`, { ...task, step: task.step ?? `task-${task.id}` });
  }
  const workflow = deps.workflows.require(run.workflow);
  const context: WorkflowContext = {
    db: trx,
    run,
    parameters: run.parameters,
    steps,
    async submit(step, request) {
      const existing = steps.get(step);
      if (existing !== undefined) {
        return existing.id;
      }
      const row = await submitStep(trx, deps, run, step, request, steps);
      steps.set(step, { ...row, step, output: null });
      return row.id;
    },
    startChild: (name, parameters) => startChild(trx, run, name, parameters),
  };
  await workflow.advance(context);
  const standing = runStanding(await listRunTasks(trx, run.id));
  if (!standing.done) {
    if (standing.message !== run.message) {
      await updateRun(trx, run.id, { message: standing.message });
    }
    return;
  }
  await finishRun(trx, run, {
    status: 'completed',
    result: standing.result ?? 'neutral',
    message: standing.message,
    failed: standing.failed,
  });
}

async function submitStep(
  trx: Db,
  deps: EngineDeps,
  run: WorkflowRunRow,
  step: string,
  request: StepRequest,
  steps: ReadonlyMap<string, StepTask>,
): Promise<TaskRow> {
  const registry = deps.tasks.registry;
  const type = registry.get(request.type);
  if (type === undefined) {
    throw new KilnError('unknown_task_type', `step ${step}: no task type ${request.type}`);
  }
  const idOf = (name: string) => {
    const task = steps.get(name);
    if (task === undefined) {
      throw new KilnError(
        'bad_request',
        `step ${step} depends on step ${name}, which is not in the run`,
      );
    }
    return task.id;
  };
  const dependsOn = [
    ...new Set([...(request.dependsOn ?? []), ...(request.bindings ?? []).map((b) => b.step)]),
  ].map(idOf);
  const bindings = (request.bindings ?? []).map((b) => ({
    field: b.field,
    task: idOf(b.step),
    output: b.output,
  }));
  const checkedInput = registry.checkInput(type, withPlaceholders(request.input, bindings));
  const dependencies =
    dependsOn.length === 0
      ? []
      : await trx
          .selectFrom('tasks')
          .select(['id', 'state', 'result'])
          .where('id', 'in', dependsOn)
          // As submitTask: the lock an ending's UPDATE waits for, and no share
          // lock to upgrade when the dependency is marked `has_dependents`.
          .forNoKeyUpdate()
          .execute();
  return insertCheckedTask(trx, {
    workspaceId: run.workspace_id,
    type,
    input: request.input,
    checkedInput,
    bindings,
    dependencies,
    requirements: { ...type.requirements?.(checkedInput), ...request.requirements },
    priority: 0,
    createdBy: run.created_by,
    timeLimit: request.timeLimit,
    run: { id: run.id, step },
  });
}

/** Ends a run (completed or aborted) and records the `run-ended` event. */
export async function finishRun(
  trx: Db,
  run: WorkflowRunRow,
  ending: {
    status: 'completed' | 'aborted';
    result: NonNullable<WorkflowRunRow['result']>;
    message: string | null;
    failed?: readonly number[];
    supersededBy?: number;
  },
): Promise<void> {
  const expiry = await trx
    .selectFrom('workspaces')
    .select('default_expiration')
    .where('id', '=', run.workspace_id)
    .executeTakeFirst();
  const seconds = expiry?.default_expiration ?? null;
  await updateRun(trx, run.id, {
    status: ending.status,
    result: ending.result,
    message: ending.message,
    completed_at: sql<Date>`now()`,
    expires_at: seconds === null ? null : sql<Date>`now() + make_interval(secs => ${seconds})`,
    ...(ending.supersededBy === undefined ? {} : { superseded_by: ending.supersededBy }),
  });
  await insertEvent(trx, {
    run_id: run.id,
    kind: 'run-ended',
    data: {
      status: ending.status,
      result: ending.result,
      message: ending.message,
      failed_tasks: ending.failed ?? [],
    },
  });
}

/**
 * Aborts a running run (or ends it as an error): ends it and cancels its unfinished tasks (a running
 * one is asked to stop, as a user's cancel does).
 */
export async function abortLockedRun(
  trx: Db,
  run: WorkflowRunRow,
  message: string,
  options: { readonly supersededBy?: number; readonly asError?: boolean } = {},
): Promise<void> {
  if (run.status !== 'running') {
    return;
  }
  for (const task of await listRunTasks(trx, run.id)) {
    if (task.state === 'completed' || task.state === 'cancelled') {
      continue;
    }
    const row = await lockTask(trx, task.id);
    if (row?.state === 'running') {
      await trx
        .updateTable('tasks')
        .set({ cancel_requested: true })
        .where('id', '=', row.id)
        .execute();
    } else if (row?.state === 'blocked' || row?.state === 'pending') {
      await endTask(trx, row, { state: 'cancelled', reason: 'cancelled', message });
    }
  }
  await finishRun(trx, run, {
    // A workflow that cannot go on (its repository was removed...) errs.
    status: options.asError === true ? 'completed' : 'aborted',
    result: options.asError === true ? 'error' : 'neutral',
    message,
    ...(options.supersededBy === undefined ? {} : { supersededBy: options.supersededBy }),
  });
}
