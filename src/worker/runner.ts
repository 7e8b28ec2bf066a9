import type { Client } from '../client/client.ts';
import type { Assignment } from '../protocol/workers.schema.ts';

/** What a task runner gets: its assignment, a client holding the task token, and a log. */
export interface TaskContext {
  readonly assignment: Assignment;
  /** Reaches only this attempt's inputs and outputs. */
  readonly client: Client;
  /** A fresh, empty directory, removed after the task. */
  readonly workDir: string;
  /** Aborted when the task is cancelled, times out, or the worker must stop. */
  readonly signal: AbortSignal;
  readonly log: (text: string) => void;
}

/** How a task ended, as the worker reports it. A failing build is a result, not an exception. */
export interface TaskOutcome {
  readonly result: 'success' | 'failure' | 'error';
  readonly reason?: string;
  readonly message?: string;
  readonly output?: Record<string, unknown>;
}

/** Runs tasks of one type on the worker. */
export interface TaskRunner {
  readonly type: string;
  run(context: TaskContext): Promise<TaskOutcome>;
}
