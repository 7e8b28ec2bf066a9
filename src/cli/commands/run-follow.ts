import type { Client } from '../../client/client.ts';
import type { Run, RunTask } from '../../protocol/workflows.schema.ts';
import type { Output } from '../output.ts';

function taskLine(task: RunTask): string {
  const result = task.result === null ? '' : ` (${task.result})`;
  const message = task.message === null || task.result === 'success' ? '' : `: ${task.message}`;
  return `  ${task.step} — task ${task.id}: ${task.state}${result}${message}`;
}

/** One line per run, with what ended it. */
export function runLine(run: Run): string {
  const result = run.result === null ? '' : ` (${run.result})`;
  return `run ${run.id} (${run.template}, ${run.workflow}): ${run.status}${result}${run.message === null ? '' : `: ${run.message}`}`;
}

/**
 * Follows a run until it ends, printing each task as it changes (to stderr,
 * with a count of ended tasks: the run's progress), and returns the ended run.
 */
export async function followRun(
  client: Client,
  output: Output,
  id: number,
  signal?: AbortSignal,
): Promise<Run> {
  const seen = new Map<number, string>();
  for (;;) {
    const run = await client.json<Run>('GET', `/api/v1/runs/${id}`, undefined, { signal });
    const ended = run.tasks.filter((t) => t.state === 'completed' || t.state === 'cancelled');
    for (const task of run.tasks) {
      const line = taskLine(task);
      if (seen.get(task.id) !== line) {
        seen.set(task.id, line);
        output.note(`[${ended.length}/${run.tasks.length}] ${line.trim()}`);
      }
    }
    if (run.status !== 'running') {
      return run;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** A run as `kiln run show` prints it. */
export function describeRun(run: Run): string {
  const lines = [
    runLine(run),
    `workspace:  ${run.workspace}`,
    `trigger:    ${run.trigger.kind}${run.trigger.details === undefined ? '' : ` ${JSON.stringify(run.trigger.details)}`}`,
    `started:    ${run.created_at} by ${run.created_by ?? '-'}`,
    `ended:      ${run.completed_at ?? '-'}`,
    ...(run.superseded_by === null ? [] : [`superseded by run ${run.superseded_by}`]),
    ...(run.failed_tasks.length === 0
      ? []
      : [`failed:     task ${run.failed_tasks.join(', task ')}`]),
    `parameters: ${JSON.stringify(run.parameters)}`,
    'tasks:',
    ...run.tasks.map(taskLine),
  ];
  return lines.join('\n');
}

/** `key=value` parameters; a value that parses as JSON is taken as that JSON. */
export function parseParameters(pairs: readonly string[]): Record<string, unknown> {
  const parameters: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at < 1) {
      throw new Error(`--param ${JSON.stringify(pair)} is not key=value`);
    }
    const value = pair.slice(at + 1);
    let parsed: unknown = value;
    try {
      parsed = JSON.parse(value);
    } catch {
      // A plain string.
    }
    parameters[pair.slice(0, at)] = parsed;
  }
  return parameters;
}
