import { setTimeout as sleep } from 'node:timers/promises';
import { ClientError, createClient, type Client } from '../../src/client/client.ts';
import type { Task } from '../../src/protocol/tasks.schema.ts';
import type { CreatedToken } from '../../src/protocol/tokens.schema.ts';
import type { Assignment, EnrolResponse } from '../../src/protocol/workers.schema.ts';
import type { KilnServer } from '../support/kiln-server.ts';
import {
  createPickupProbe,
  createThroughputProbe,
  submitPaced,
  waitFor,
  type QueueFigures,
} from './probes.ts';

/** What the bench asks of every queue. */
export interface Workload {
  readonly tasks: number;
  readonly workers: number;
  readonly pickupTasks: number;
  readonly pickupIntervalMs: number;
  /** Pickups left out of the percentiles (connections warming up). */
  readonly pickupWarmup: number;
  readonly timeoutMs: number;
}

const workspace = 'bench';
/** The real worker's defaults: `--poll-wait 25`, and a heartbeat every 5 s. */
const pollWaitSeconds = 25;
const heartbeatMs = 5000;
const submitConcurrency = 8;
const metadata = {
  architectures: ['amd64'],
  executors: ['host'],
  cores: 1,
  memory: 2 * 1024 ** 3,
  disk: 20 * 1024 ** 3,
  version: 'bench',
};

/** A simulated worker: its own token, over the shared HTTP client the real worker uses. */
interface SimulatedWorker {
  readonly name: string;
  readonly client: Client;
}

/** What a worker's loop reports. */
interface Observer {
  assigned(assignment: Assignment): void;
  completed(assignment: Assignment): void;
  /** The server refused the result: the attempt lost its lease, and the task went back to the queue. */
  refused?(assignment: Assignment): void;
}

/**
 * Measures kiln on `kiln` (a fresh server): enrols the simulated workers,
 * submits the tasks with no worker claiming, then lets every worker claim and
 * complete until all are done; then, with the workers idle in their long
 * polls, submits one task every interval and times each pickup.
 */
export async function measureKiln(
  kiln: KilnServer,
  name: string,
  workload: Workload,
  signal: AbortSignal,
  progress: (line: string) => void,
): Promise<QueueFigures> {
  await kiln.call('POST', '/api/v1/workspaces', { name: workspace });
  const workers = await enrolWorkers(kiln, workload.workers);
  progress(`${name}: ${workers.length} workers enrolled; submitting ${workload.tasks} noop tasks`);
  const submitStart = performance.now();
  await submitTasks(kiln, workload.tasks, signal);
  const submitSeconds = (performance.now() - submitStart) / 1000;
  progress(
    `${name}: submitted in ${submitSeconds.toFixed(1)} s ` +
      `(${(workload.tasks / submitSeconds).toFixed(0)}/s); the workers start claiming`,
  );

  const throughput = createThroughputProbe(workload.tasks);
  const seen = new Set<string>();
  let duplicates = 0;
  let refused = 0;
  await runWorkers(kiln, workers, signal, {
    observer: {
      assigned(assignment) {
        throughput.claimed();
        const attempt = `${assignment.task}/${assignment.attempt}`;
        if (seen.has(attempt)) {
          duplicates += 1;
        }
        seen.add(attempt);
      },
      completed() {
        throughput.completed();
      },
      refused() {
        refused += 1;
      },
    },
    until: () => throughput.done,
    timeoutMs: workload.timeoutMs,
    describe: () => `${throughput.count} of ${workload.tasks} tasks completed`,
  });
  await checkCompleted(kiln, workload.tasks, duplicates);
  progress(
    `${name}: ${workload.tasks} tasks in ${throughput.seconds().toFixed(2)} s ` +
      `(${(workload.tasks / throughput.seconds()).toFixed(0)}/s)` +
      (refused === 0 ? '' : `; ${refused} results refused (lease lost), run again`),
  );

  const pickup = createPickupProbe(workload.pickupTasks);
  await runWorkers(kiln, workers, signal, {
    observer: {
      assigned(assignment) {
        pickup.received(assignment.task);
      },
      completed() {},
    },
    until: async (stop) => {
      // Let every worker get back into its long poll before the first task.
      await sleep(1000, undefined, { signal: stop });
      await submitPaced(
        workload.pickupTasks,
        workload.pickupIntervalMs,
        async () => {
          const task = (await kiln.call('POST', `/api/v1/workspaces/${workspace}/tasks`, {
            type: 'noop',
          })) as Task;
          pickup.submitted(task.id);
        },
        stop,
      );
      await pickup.done;
    },
    timeoutMs: workload.pickupTasks * workload.pickupIntervalMs + 30_000,
    describe: () => `${pickup.count} of ${workload.pickupTasks} tasks picked up`,
  });
  await checkCompleted(kiln, workload.tasks + workload.pickupTasks, 0);
  return {
    name,
    settings: `${workload.workers} workers over HTTP, long poll ${pollWaitSeconds} s`,
    tasks: workload.tasks,
    seconds: throughput.seconds(),
    pickup: pickup.latencies(workload.pickupWarmup),
  };
}

async function enrolWorkers(kiln: KilnServer, count: number): Promise<SimulatedWorker[]> {
  const enrolment = (await kiln.call('POST', '/api/v1/workers/enrolment-tokens', {
    name: 'bench workers',
  })) as CreatedToken;
  const enrolling = createClient(kiln.url, enrolment.token);
  const workers: SimulatedWorker[] = [];
  for (let i = 1; i <= count; i += 1) {
    const name = `bench-${String(i).padStart(3, '0')}`;
    const enrolled = await enrolling.json<EnrolResponse>('POST', '/api/v1/workers/enrol', {
      name,
      metadata,
    });
    workers.push({ name, client: createClient(kiln.url, enrolled.token) });
  }
  return workers;
}

/** Submits `count` noop tasks over the API, a few at a time. */
async function submitTasks(kiln: KilnServer, count: number, signal: AbortSignal): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: submitConcurrency }, async () => {
      while (next < count) {
        signal.throwIfAborted();
        next += 1;
        await kiln.call('POST', `/api/v1/workspaces/${workspace}/tasks`, { type: 'noop' });
      }
    }),
  );
}

/**
 * Runs every worker's loop until `until` settles (then stops their long
 * polls), or fails after `timeoutMs`, or as soon as one worker fails.
 */
async function runWorkers(
  kiln: KilnServer,
  workers: readonly SimulatedWorker[],
  signal: AbortSignal,
  phase: {
    readonly observer: Observer;
    /** Resolves when the phase is over; `stop` aborts on a timeout or a failure. */
    readonly until: (stop: AbortSignal) => Promise<void>;
    readonly timeoutMs: number;
    readonly describe: () => string;
  },
): Promise<void> {
  const stop = new AbortController();
  const stopped = AbortSignal.any([stop.signal, signal]);
  const loops = workers.map((worker) =>
    runWorker(kiln.url, worker, phase.observer, stopped).catch((error: unknown) => {
      stop.abort(error);
      throw new Error(`worker ${worker.name} failed`, { cause: error });
    }),
  );
  try {
    await waitFor(phase.until, phase.timeoutMs, stopped, phase.describe);
  } finally {
    stop.abort();
    await Promise.allSettled(loops);
  }
  await Promise.all(loops);
}

/**
 * One worker as the real one talks to the server (src/worker/agent.ts): it
 * long-polls for a task, reports the result with its next claim (the real
 * worker's one request a task; on its own, with the task's token, when the
 * phase ends), and heartbeats every 5 s, until `signal` stops it. A noop does
 * nothing.
 */
async function runWorker(
  server: string,
  worker: SimulatedWorker,
  observer: Observer,
  signal: AbortSignal,
): Promise<void> {
  let running: Assignment | undefined;
  const heartbeats = (async () => {
    for (;;) {
      const slept = await sleep(heartbeatMs, undefined, { signal }).then(
        () => true,
        () => false,
      );
      if (!slept) {
        return;
      }
      await worker.client.json('POST', '/api/v1/worker/heartbeat', {
        running: running === undefined ? [] : [{ task: running.task, attempt: running.attempt }],
      });
    }
  })();
  let finished: Assignment | undefined;
  try {
    while (!signal.aborted) {
      const claimed = await claim(worker.client, finished, signal);
      if (finished !== undefined && claimed.reported !== undefined) {
        if (claimed.reported) {
          observer.completed(finished);
        } else {
          observer.refused?.(finished);
        }
        finished = undefined;
      }
      if (claimed.assignment !== undefined) {
        running = claimed.assignment;
        observer.assigned(claimed.assignment);
        finished = claimed.assignment;
        running = undefined;
      }
    }
    if (finished !== undefined) {
      if (await report(server, finished)) {
        observer.completed(finished);
      } else {
        observer.refused?.(finished);
      }
    }
  } finally {
    await heartbeats;
  }
}

/**
 * Reports success on its own; `false` when the attempt is over on the server
 * (its lease ran out), which the real worker also takes as its result being
 * dropped.
 */
async function report(server: string, assignment: Assignment): Promise<boolean> {
  try {
    await createClient(server, assignment.token).json(
      'POST',
      `/api/v1/tasks/${assignment.task}/complete`,
      { result: 'success' },
    );
    return true;
  } catch (error) {
    if (error instanceof ClientError && error.code === 'stale_attempt') {
      return false;
    }
    throw error;
  }
}

/**
 * Claims the next task, reporting `finished` (a success) with it. `reported`:
 * whether the server took that result (`false`: the attempt was over),
 * `undefined` when the phase stopped first and it is still to report.
 */
async function claim(
  client: Client,
  finished: Assignment | undefined,
  signal: AbortSignal,
): Promise<{ assignment?: Assignment | undefined; reported?: boolean }> {
  const completed =
    finished === undefined
      ? {}
      : { completed: { task: finished.task, attempt: finished.attempt, result: 'success' } };
  try {
    const assignment = await client.json<Assignment | undefined>(
      'POST',
      '/api/v1/worker/claim',
      { wait: pollWaitSeconds, ...completed },
      { signal },
    );
    return { assignment, reported: true };
  } catch (error) {
    if (finished !== undefined && error instanceof ClientError && error.code === 'stale_attempt') {
      return { reported: false };
    }
    if (signal.aborted) {
      return {};
    }
    throw error;
  }
}

/** Checks with the server that `expected` tasks completed, each claimed once. */
async function checkCompleted(
  kiln: KilnServer,
  expected: number,
  duplicates: number,
): Promise<void> {
  const page = (await kiln.call(
    'GET',
    `/api/v1/workspaces/${workspace}/tasks?state=completed&limit=1`,
  )) as { total: number };
  if (page.total !== expected || duplicates > 0) {
    throw new Error(
      `kiln completed ${page.total} tasks, not ${expected}` +
        (duplicates > 0 ? `, and handed out ${duplicates} attempts twice` : ''),
    );
  }
}
