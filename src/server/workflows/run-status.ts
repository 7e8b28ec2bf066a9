import type { RunResult } from '../../protocol/workflows.schema.ts';
import type { TaskResultColumn, TaskStateColumn } from '../db/schema.ts';

/** What the status rules read of a run's task. */
export interface TaskStanding {
  readonly id: number;
  readonly step: string | null;
  readonly state: TaskStateColumn;
  readonly result: TaskResultColumn | null;
  readonly reason: string | null;
  readonly message: string | null;
}

/** Where a run stands, from its tasks. */
export interface RunStanding {
  /** Every task has ended. */
  readonly done: boolean;
  readonly result: RunResult | null;
  /** Which tasks failed or errored by themselves (not those they blocked), and why. */
  readonly message: string | null;
  readonly failed: readonly number[];
}

/** A task that did not succeed for its own reasons, not because a dependency did not. */
export function failedByItself(task: TaskStanding): boolean {
  if (task.state === 'cancelled') {
    return task.reason !== 'dependency-cancelled';
  }
  return (
    task.state === 'completed' && task.result !== 'success' && task.reason !== 'blocked-failed'
  );
}

/**
 * BuildIt's rules: a run is running while any task is; then `error` if any
 * task errored, `failure` if any failed (or was cancelled) and none errored,
 * `success` if all succeeded, and `neutral` if it had no task at all.
 */
export function runStanding(tasks: readonly TaskStanding[]): RunStanding {
  const failedTasks = tasks.filter(failedByItself);
  const message =
    failedTasks.length === 0
      ? null
      : failedTasks
          .map((t) => {
            const what =
              t.state === 'cancelled'
                ? 'was cancelled'
                : t.result === 'error'
                  ? 'errored'
                  : 'failed';
            return `${t.step ?? 'task'} (task ${t.id}) ${what}${t.message === null ? '' : `: ${t.message}`}`;
          })
          .join('; ');
  const failed = failedTasks.map((t) => t.id);
  if (tasks.some((t) => t.state !== 'completed' && t.state !== 'cancelled')) {
    return { done: false, result: null, message, failed };
  }
  const result: RunResult = tasks.some((t) => t.result === 'error')
    ? 'error'
    : tasks.some((t) => t.state === 'cancelled' || t.result === 'failure')
      ? 'failure'
      : tasks.length === 0
        ? 'neutral'
        : 'success';
  return { done: true, result, message, failed };
}

/**
 * The retry policy: a task that errored (the farm's trouble: a lost worker, a
 * broken sandbox) is retried up to `maxRetries` times; one that failed (the
 * package's fault) is not, nor one that a failed dependency ended.
 */
export function shouldRetry(
  task: TaskStanding & { readonly retries: number },
  maxRetries: number,
): boolean {
  return (
    task.state === 'completed' &&
    task.result === 'error' &&
    task.reason !== 'blocked-failed' &&
    task.retries < maxRetries
  );
}
