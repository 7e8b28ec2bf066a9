import assert from 'node:assert/strict';
import type { Api } from './api.ts';
import { assertStatus } from './assertions.ts';
import { waitUntil } from './waits.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Run as JSON: tests read any field
type RunJson = any;

/** Registers a workflow template in a workspace (as an owner), failing the test otherwise. */
export async function registerTemplate(
  api: Api,
  workspace: string,
  body: { name: string; workflow: string; parameters?: object; max_retries?: number },
): Promise<void> {
  assertStatus(await api.post(`/api/v1/workspaces/${workspace}/workflows`, body), 201);
}

/** Starts a run of a template; returns the run as the API shows it. */
export async function startRun(
  api: Api,
  workspace: string,
  template: string,
  parameters: object = {},
): Promise<RunJson> {
  const response = await api.post(`/api/v1/workspaces/${workspace}/runs`, { template, parameters });
  assertStatus(response, 201);
  return response.body;
}

export async function getRun(api: Api, id: number): Promise<RunJson> {
  const response = await api.get(`/api/v1/runs/${id}`);
  assertStatus(response, 200);
  return response.body;
}

/** Waits until a run is no longer running; returns it. */
export async function waitForRunEnd(api: Api, id: number, timeoutMs = 20_000): Promise<RunJson> {
  let last: unknown;
  return waitUntil<RunJson>(
    `run ${id} to end`,
    async (): Promise<RunJson> => {
      const run: RunJson = await getRun(api, id);
      last = run;
      return run.status === 'running' ? undefined : run;
    },
    { timeoutMs, intervalMs: 50, describe: () => JSON.stringify(last) },
  );
}

/** The id of a run's task for `step`, waiting until the engine submitted it. */
export async function waitForStep(
  api: Api,
  runId: number,
  step: string,
  timeoutMs = 20_000,
): Promise<number> {
  return waitUntil(
    `run ${runId} to have step ${step}`,
    async () => {
      const run = await getRun(api, runId);
      return (run.tasks as { id: number; step: string }[]).find((t) => t.step === step)?.id;
    },
    { timeoutMs, intervalMs: 50 },
  );
}

/** The steps of a run, by name, as `state/result`. */
export function stepStates(run: RunJson): Record<string, string> {
  assert.ok(Array.isArray(run.tasks));
  return Object.fromEntries(
    (run.tasks as { step: string; state: string; result: string | null }[]).map((t) => [
      t.step,
      `${t.state}/${t.result ?? '-'}`,
    ]),
  );
}
