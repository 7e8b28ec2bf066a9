import type { Task, TaskSummary } from '../../protocol/tasks.schema.ts';
import type { Db } from '../db/connect.ts';
import { listTaskArtifactIds } from '../artifacts/artifact.repository.ts';
import { listAttempts, listDependencies, type TaskWithNames } from './task.repository.ts';

function requirementsOf(row: TaskWithNames): Task['requirements'] {
  return {
    ...(row.architecture === null ? {} : { architecture: row.architecture }),
    ...(row.host_architecture === null ? {} : { host_architecture: row.host_architecture }),
    ...(row.executor === null ? {} : { executor: row.executor }),
    ...(row.min_memory === 0 ? {} : { min_memory: row.min_memory }),
    ...(row.min_disk === 0 ? {} : { min_disk: row.min_disk }),
    ...(row.tags.length === 0 ? {} : { tags: row.tags }),
  };
}

/** A task as the API lists it. */
export function toTaskSummary(row: TaskWithNames, dependsOn: readonly number[] = []): TaskSummary {
  return {
    id: row.id,
    workspace: row.workspace_name,
    type: row.type,
    runs_on: row.runs_on,
    requirements: requirementsOf(row),
    score: row.base_score + row.priority,
    priority: row.priority,
    state: row.state,
    result: row.result,
    reason: row.reason,
    message: row.message,
    depends_on: [...dependsOn],
    created_by: row.creator,
    created_at: row.created_at.toISOString(),
    started_at: row.started_at?.toISOString() ?? null,
    completed_at: row.completed_at?.toISOString() ?? null,
    time_limit: row.time_limit,
    attempt: row.attempt,
    worker: row.worker_name,
    cancel_requested: row.cancel_requested,
    log_artifact: row.log_artifact_id,
  };
}

/** A task as the API shows it, with attempts, dependencies, inputs and outputs. */
export async function describeTask(db: Db, row: TaskWithNames): Promise<Task> {
  const [dependsOn, attempts, inputs, outputs] = await Promise.all([
    listDependencies(db, row.id),
    listAttempts(db, row.id),
    listTaskArtifactIds(db, row.id, 'input'),
    listTaskArtifactIds(db, row.id, 'output'),
  ]);
  return {
    ...toTaskSummary(row, dependsOn),
    input: row.input,
    output: row.output,
    attempts: attempts.map((a) => ({
      attempt: a.attempt,
      worker: a.worker_name,
      started_at: a.started_at.toISOString(),
      ended_at: a.ended_at?.toISOString() ?? null,
      outcome: a.outcome,
    })),
    inputs,
    outputs,
  };
}
