import { KilnError } from '../../protocol/errors.ts';
import type { Requirements } from '../../protocol/tasks.schema.ts';
import { insertTaskArtifacts } from '../artifacts/artifact.repository.ts';
import type { Db } from '../db/connect.ts';
import type { TaskBinding, TaskRow } from '../db/schema.ts';
import { bindingPlaceholder, fillBindings } from './task-bindings.ts';
import type { TaskType } from './task-types.ts';
import { insertDependencies, insertTask, notifyPending } from './task.repository.ts';

/** A task checked by its submitter (input against its type, access to what it reads). */
export interface CheckedTask {
  readonly workspaceId: number;
  readonly type: TaskType;
  /** The input as given: bound fields are filled in later. */
  readonly input: Record<string, unknown>;
  /** The input with placeholders in bound fields, as checked against the type's schema. */
  readonly checkedInput: Record<string, unknown>;
  readonly bindings: readonly TaskBinding[];
  /** The tasks it depends on, locked (`for share`) by the caller's transaction. */
  readonly dependencies: readonly Pick<TaskRow, 'id' | 'state' | 'result'>[];
  readonly requirements: Requirements;
  readonly priority: number;
  readonly createdBy: number | null;
  readonly timeLimit?: number | undefined;
  readonly maxLostLeases?: number | undefined;
  /** The workflow run it is a step of. */
  readonly run?: { readonly id: number; readonly step: string };
}

/**
 * Inserts a checked task in the caller's transaction: pending, or blocked until
 * its dependencies succeed, or ended at once when one did not. Returns its row.
 */
export async function insertCheckedTask(db: Db, task: CheckedTask): Promise<TaskRow> {
  const ended = endingForDependencies(task.dependencies);
  const waiting = task.dependencies.some(
    (d) => !(d.state === 'completed' && d.result === 'success'),
  );
  const { requirements } = task;
  const row = await insertTask(db, {
    workspace_id: task.workspaceId,
    type: task.type.name,
    input: JSON.stringify(task.input),
    bindings: task.bindings.length === 0 ? null : JSON.stringify(task.bindings),
    runs_on: task.type.runsOn,
    architecture: requirements.architecture ?? null,
    host_architecture: requirements.host_architecture ?? null,
    executor: requirements.executor ?? null,
    min_memory: requirements.min_memory ?? 0,
    min_disk: requirements.min_disk ?? 0,
    tags: requirements.tags ?? [],
    base_score: task.type.baseScore,
    priority: task.priority,
    state: ended?.state ?? (waiting ? 'blocked' : 'pending'),
    result: ended?.result ?? null,
    reason: ended?.reason ?? null,
    message: ended?.message ?? null,
    completed_at: ended === undefined ? null : new Date(),
    created_by: task.createdBy,
    time_limit: task.timeLimit ?? task.type.timeLimit,
    max_lost_leases: task.maxLostLeases ?? 3,
    run_id: task.run?.id ?? null,
    run_step: task.run?.step ?? null,
  });
  const inputArtifacts = [
    ...new Set(
      (task.type.inputArtifacts?.(task.checkedInput) ?? []).filter(
        (id) => id !== bindingPlaceholder,
      ),
    ),
  ];
  await insertDependencies(
    db,
    row.id,
    task.dependencies.map((d) => d.id),
  );
  await insertTaskArtifacts(db, row.id, 'input', inputArtifacts);
  if (row.state === 'pending') {
    const problem = await fillBindings(db, row);
    if (problem !== undefined) {
      throw new KilnError('bad_request', problem);
    }
    await notifyPending(db, 1, row.runs_on);
  }
  return row;
}

/**
 * How a task ends when one of its dependencies did not succeed, as `endTask`
 * ends the dependents of a task: `blocked-failed` when one failed, cancelled
 * (`dependency-cancelled`) when one was cancelled; `undefined` when none did.
 */
export function endingForDependencies(
  dependencies: readonly Pick<TaskRow, 'id' | 'state' | 'result'>[],
) {
  const failed = dependencies.find((d) => d.state === 'completed' && d.result !== 'success');
  if (failed !== undefined) {
    return {
      state: 'completed',
      result: 'failure',
      reason: 'blocked-failed',
      message: `task ${failed.id} did not succeed`,
    } as const;
  }
  const cancelled = dependencies.find((d) => d.state === 'cancelled');
  return cancelled === undefined
    ? undefined
    : ({
        state: 'cancelled',
        result: null,
        reason: 'dependency-cancelled',
        message: `task ${cancelled.id} was cancelled`,
      } as const);
}
