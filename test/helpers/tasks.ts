import type { Client } from '../../src/client/client.ts';
import type { SubmitTaskBody, Task } from '../../src/protocol/tasks.schema.ts';
import { waitUntil, type WaitOptions } from './waits.ts';

/**
 * A shell command that says its process group and attempt, then hangs
 * (`sleep seconds`) on the first attempt and finishes at once on later ones.
 */
export function hangsOnFirstAttempt(seconds: number): string {
  return (
    'echo "group $$ attempt $KILN_TASK_ATTEMPT"; ' +
    `if [ "$KILN_TASK_ATTEMPT" = 1 ]; then sleep ${seconds}; fi; ` +
    'echo "finished attempt $KILN_TASK_ATTEMPT"'
  );
}

/** What `hangsOnFirstAttempt` says first: its process group is match 1. */
export const firstAttemptGroup = /group (\d+) attempt 1\n/;

/** Submits a task to `workspace` over HTTP. */
export function submitTask(client: Client, workspace: string, body: SubmitTaskBody): Promise<Task> {
  return client.json<Task>('POST', `/api/v1/workspaces/${workspace}/tasks`, body);
}

export function showTask(client: Client, id: number): Promise<Task> {
  return client.json<Task>('GET', `/api/v1/tasks/${id}`);
}

/** The task's log as text: what the server has of it now. */
export async function readTaskLog(client: Client, id: number): Promise<string> {
  const response = await client.download(`/api/v1/tasks/${id}/log`);
  const chunks: Buffer[] = [];
  for await (const chunk of response) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Waits (bounded) until the task is in a state `accept` takes; returns it. */
export async function waitForTask(
  client: Client,
  id: number,
  what: string,
  accept: (task: Task) => boolean,
  options: WaitOptions = {},
): Promise<Task> {
  let last: Task | undefined;
  return waitUntil(
    `task ${id} to be ${what}`,
    async () => {
      last = await showTask(client, id);
      return accept(last) ? last : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200, ...options, describe: () => JSON.stringify(last) },
  );
}

/** Waits (bounded) for the task's log to match `pattern`; returns the match. */
export function waitForLog(
  client: Client,
  id: number,
  pattern: RegExp,
  options: WaitOptions = {},
): Promise<RegExpMatchArray> {
  let last = '';
  return waitUntil(
    `the log of task ${id} to match ${String(pattern)}`,
    async () => {
      last = await readTaskLog(client, id);
      return pattern.exec(last) ?? undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200, ...options, describe: () => JSON.stringify(last) },
  );
}

/** Whether the task has ended (completed or cancelled). */
export function isOver(task: Task): boolean {
  return task.state === 'completed' || task.state === 'cancelled';
}
