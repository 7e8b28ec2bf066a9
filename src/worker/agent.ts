import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientError, createClient, type Client } from '../client/client.ts';
import type { Assignment, EnrolResponse, HeartbeatResponse } from '../protocol/workers.schema.ts';
import type { WorkerConfig } from './config.ts';
import { createLogSender } from './log-sender.ts';
import { describeWorker, detectArchitecture, measureWorker } from './metadata.ts';
import { retrying } from './retry.ts';
import type { TaskOutcome, TaskRunner } from './runner.ts';

/** Where the worker says what it does (to stderr, one line each). */
export type Say = (message: string) => void;

export interface Agent {
  /** Runs until `stop`; resolves when the worker has stopped. */
  readonly done: Promise<void>;
  /**
   * Stops: no new task is claimed; the running one may finish within the drain
   * timeout, then is handed back. `now` hands it back at once.
   */
  stop(now?: boolean): void;
}

interface Running {
  readonly assignment: Assignment;
  readonly abort: AbortController;
  handedBack: boolean;
}

/** An attempt that ran to its end, whose outcome the server has yet to hear. */
interface Finished {
  readonly assignment: Assignment;
  readonly outcome: TaskOutcome;
}

/**
 * The worker: enrols (with an enrolment token) or uses its own token,
 * heartbeats, long-polls for tasks that fit it, runs them with the runner for
 * their type, streams their logs and reports their results. It keeps no state:
 * a restarted worker enrols again under the same name.
 */
export function startAgent(
  config: WorkerConfig,
  runners: readonly TaskRunner[],
  options: { readonly version: string; readonly say: Say },
): Agent {
  const stopping = new AbortController();
  const handBack = new AbortController();
  let running: Running | undefined;
  const say = options.say;

  const done = (async () => {
    await mkdir(config.workDir, { recursive: true });
    const natives = config.architectures ?? [await detectArchitecture()];
    const client = await connect();
    let beat = 5000;
    const heartbeats = (async () => {
      while (!stopping.signal.aborted || running !== undefined) {
        try {
          const response = await sendHeartbeat(client, natives);
          beat = Math.max(500, Math.min(5000, (response.lease_timeout * 1000) / 4));
        } catch (error) {
          say(`heartbeat failed: ${(error as Error).message}`);
        }
        await sleep(beat, undefined, { signal: stopping.signal }).catch(() =>
          sleep(Math.min(beat, 500)),
        );
      }
    })();
    // A finished attempt's outcome goes with the next claim: one request a task.
    let finished: Finished | undefined;
    while (!stopping.signal.aborted) {
      const claimed = await claim(client, finished);
      finished = claimed.unreported;
      if (claimed.assignment !== undefined) {
        finished = await execute(claimed.assignment);
        running = undefined;
      }
    }
    if (finished !== undefined) {
      await report(finished);
    }
    await heartbeats;
  })();

  async function connect(): Promise<Client> {
    if (!config.token.startsWith('kiln_e_')) {
      return createClient(config.server, config.token);
    }
    const metadata = await describeWorker(config, options.version);
    const enrolled = await retrying(
      () =>
        createClient(config.server, config.token).json<EnrolResponse>(
          'POST',
          '/api/v1/workers/enrol',
          {
            name: config.name,
            metadata,
          },
        ),
      stopping.signal,
    );
    say(
      `enrolled as ${enrolled.worker.name}: ${metadata.architectures.join(',')}` +
        (metadata.cross_architectures?.length
          ? ` (cross: ${metadata.cross_architectures.join(',')})`
          : '') +
        `, executors ${metadata.executors.join(',')}, ${metadata.cores} cores`,
    );
    return createClient(config.server, enrolled.token);
  }

  async function sendHeartbeat(
    client: Client,
    natives: readonly string[],
  ): Promise<HeartbeatResponse> {
    const current = running;
    const response = await client.json<HeartbeatResponse>(
      'POST',
      '/api/v1/worker/heartbeat',
      await measureWorker(
        config,
        natives,
        current === undefined
          ? []
          : [{ task: current.assignment.task, attempt: current.assignment.attempt }],
      ),
    );
    if (current !== undefined && response.cancel.includes(current.assignment.task)) {
      say(`task ${current.assignment.task}: stopping (cancelled or no longer ours)`);
      current.abort.abort();
    }
    return response;
  }

  /**
   * Long-polls for the next task, reporting `finished` with it. Returns the
   * task, if one came, and `finished` again if it could not be reported
   * (the worker is stopping: it is then reported on its own).
   */
  async function claim(
    client: Client,
    finished: Finished | undefined,
  ): Promise<{ assignment?: Assignment | undefined; unreported?: Finished | undefined }> {
    const completed =
      finished === undefined
        ? {}
        : {
            completed: {
              task: finished.assignment.task,
              attempt: finished.assignment.attempt,
              ...finished.outcome,
            },
          };
    try {
      const assignment = await retrying(
        () =>
          client.json<Assignment | undefined>(
            'POST',
            '/api/v1/worker/claim',
            { wait: config.pollWait, ...completed },
            { signal: stopping.signal },
          ),
        stopping.signal,
      );
      if (finished !== undefined) {
        sayReported(finished.assignment.task, finished.outcome);
      }
      return { assignment };
    } catch (error) {
      if (
        finished !== undefined &&
        error instanceof ClientError &&
        error.code === 'stale_attempt'
      ) {
        sayDropped(finished.assignment);
        return {};
      }
      if (stopping.signal.aborted) {
        return { unreported: finished };
      }
      if (error instanceof ClientError && error.code === 'worker_disabled') {
        say('this worker is disabled; asking again in 30 s');
        if (finished !== undefined) {
          await report(finished);
        }
        await sleep(30_000, undefined, { signal: stopping.signal }).catch(() => undefined);
        return {};
      }
      throw error;
    }
  }

  /**
   * Runs the task and streams its log; returns its outcome to report, or
   * nothing when it was handed back (released here at once).
   */
  async function execute(assignment: Assignment): Promise<Finished | undefined> {
    const taskClient = createClient(config.server, assignment.token);
    const current: Running = { assignment, abort: new AbortController(), handedBack: false };
    running = current;
    const onHandBack = () => {
      current.handedBack = true;
      current.abort.abort();
    };
    handBack.signal.addEventListener('abort', onHandBack, { once: true });
    say(`task ${assignment.task} (${assignment.type}, attempt ${assignment.attempt}): started`);
    const log = createLogSender(
      taskClient,
      assignment.task,
      () => {
        current.abort.abort();
      },
      handBack.signal,
    );
    const workDir = await mkdtemp(join(config.workDir, `task-${assignment.task}-`));
    let outcome: TaskOutcome;
    try {
      const runner = runners.find((r) => r.type === assignment.type);
      outcome =
        runner === undefined
          ? {
              result: 'error',
              reason: 'unknown-type',
              message: `this worker cannot run ${assignment.type} tasks`,
            }
          : await runner.run({
              assignment,
              client: taskClient,
              workDir,
              signal: current.abort.signal,
              log: (text) => {
                log.write(text);
              },
            });
    } catch (error) {
      outcome = { result: 'error', reason: 'worker-error', message: (error as Error).message };
      log.write(`kiln: ${(error as Error).message}\n`);
    } finally {
      handBack.signal.removeEventListener('abort', onHandBack);
      await rm(workDir, { recursive: true, force: true });
    }
    await log.close();
    if (current.handedBack) {
      await sendOutcome(assignment, `/api/v1/tasks/${assignment.task}/release`, {}, 'handed back');
      return undefined;
    }
    return { assignment, outcome };
  }

  /** Reports an outcome on its own, with the task token (when no claim follows). */
  async function report(finished: Finished): Promise<void> {
    const { assignment, outcome } = finished;
    await sendOutcome(
      assignment,
      `/api/v1/tasks/${assignment.task}/complete`,
      outcome,
      describeOutcome(outcome),
    );
  }

  async function sendOutcome(
    assignment: Assignment,
    path: string,
    body: unknown,
    done: string,
  ): Promise<void> {
    const client = createClient(config.server, assignment.token);
    try {
      // Keep trying through a server outage: the result must not be lost.
      await retrying(() => client.json('POST', path, body), new AbortController().signal);
      say(`task ${assignment.task}: ${done}`);
    } catch (error) {
      if (error instanceof ClientError && error.code === 'stale_attempt') {
        sayDropped(assignment);
        return;
      }
      say(`task ${assignment.task}: reporting failed: ${(error as Error).message}`);
    }
  }

  function sayReported(task: number, outcome: TaskOutcome): void {
    say(`task ${task}: ${describeOutcome(outcome)}`);
  }

  function sayDropped(assignment: Assignment): void {
    say(
      `task ${assignment.task}: attempt ${assignment.attempt} is over on the server; result dropped`,
    );
  }

  return {
    done,
    stop(now = false) {
      if (!stopping.signal.aborted) {
        stopping.abort();
        if (running !== undefined && !now) {
          say(
            `stopping: letting task ${running.assignment.task} finish (up to ${config.drainTimeout} s)`,
          );
          setTimeout(() => {
            handBack.abort();
          }, config.drainTimeout * 1000).unref();
          return;
        }
      }
      handBack.abort();
    },
  };
}

function describeOutcome(outcome: TaskOutcome): string {
  return `${outcome.result}${outcome.message ? ` (${outcome.message})` : ''}`;
}
