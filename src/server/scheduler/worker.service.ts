import { KilnError } from '../../protocol/errors.ts';
import type { CreatedToken } from '../../protocol/tokens.schema.ts';
import type {
  Assignment,
  ClaimBody,
  EnrolBody,
  EnrolResponse,
  HeartbeatResponse,
  Worker,
  WorkerDynamic,
} from '../../protocol/workers.schema.ts';
import type { Actor, WorkerActor } from '../auth/actor.ts';
import { requireAdmin, toToken } from '../auth/auth.service.ts';
import { generateTokenSecret, hashTokenSecret } from '../auth/secrets.ts';
import { insertToken } from '../auth/token.repository.ts';
import type { Db } from '../db/connect.ts';
import type { WorkerRow } from '../db/schema.ts';
import { visibleWorkspaces } from '../workspaces/access.ts';
import type { SchedulerDeps } from './scheduler.ts';
import type { Wake } from './wakeups.ts';
import { completeWorkerAttempt } from './task-work.service.ts';
import { claimOnce } from './worker-claims.ts';
import { requeueTask } from './task-lifecycle.ts';
import { lockTask, notifyPending } from './task.repository.ts';
import {
  deleteWorker,
  extendLeases,
  findWorkerByName,
  listRunningTasksOf,
  listWorkerRows,
  recordHeartbeat,
  revokeWorkerTokens,
  setWorkerEnabled,
  upsertWorker,
} from './worker.repository.ts';

/** How often an idle long poll re-checks the queue even without a wake-up. */
const pollFallbackMs = 5000;

/**
 * Requires a worker token. A caller without a token is asked for one (401); any
 * other token is the wrong kind (403), as in `requireTaskToken`.
 */
function requireWorker(actor: Actor): WorkerActor {
  if (actor.kind !== 'worker') {
    throw new KilnError(
      actor.kind === 'anonymous' ? 'unauthenticated' : 'forbidden',
      'this needs a worker token',
    );
  }
  return actor;
}

async function toWorker(
  db: Db,
  actor: Actor,
  row: WorkerRow,
  onlineSeconds: number,
): Promise<Worker> {
  const running = await db
    .selectFrom('tasks')
    .innerJoin('workspaces', 'workspaces.id', 'tasks.workspace_id')
    .select('tasks.id')
    .where('tasks.worker_id', '=', row.id)
    .where('tasks.state', '=', 'running')
    .where(visibleWorkspaces(actor))
    .orderBy('tasks.id')
    .execute();
  return {
    name: row.name,
    enabled: row.enabled,
    online: Date.now() - row.last_seen_at.getTime() < onlineSeconds * 1000,
    architectures: row.architectures,
    cross_architectures: row.cross_architectures,
    executors: row.executors,
    cores: row.cores,
    memory: row.memory,
    disk: row.disk,
    tags: row.tags,
    version: row.version,
    load: row.load,
    free_disk: row.free_disk,
    enrolled_at: row.enrolled_at.toISOString(),
    last_seen_at: row.last_seen_at.toISOString(),
    running: running.map((r) => r.id),
  };
}

/** Creates an enrolment token (admin): a worker enrols with it to get its own token. */
export async function createEnrolmentToken(
  deps: SchedulerDeps,
  actor: Actor,
  request: { name?: string | undefined; expires_in?: number | undefined },
): Promise<CreatedToken> {
  requireAdmin(actor);
  const secret = generateTokenSecret('enrolment');
  const row = await insertToken(deps.db, {
    hash: hashTokenSecret(secret),
    kind: 'enrolment',
    user_id: null,
    name: request.name ?? 'worker enrolment',
    scopes: [],
    expires_at:
      request.expires_in === undefined ? null : new Date(Date.now() + request.expires_in * 1000),
  });
  return { ...toToken(row), token: secret };
}

/** An enrolment token for a worker the server starts itself (`kiln up`). */
export async function createLocalEnrolmentToken(db: Db): Promise<string> {
  const secret = generateTokenSecret('enrolment');
  await insertToken(db, {
    hash: hashTokenSecret(secret),
    kind: 'enrolment',
    user_id: null,
    name: 'local worker (kiln up)',
    scopes: [],
    expires_at: new Date(Date.now() + 3600 * 1000),
  });
  return secret;
}

/**
 * Enrols a worker with an enrolment token and returns its own worker token.
 * Enrolling under an existing name takes that worker over: its old token is
 * revoked and the tasks it was running go back to the queue.
 */
export async function enrolWorker(
  deps: SchedulerDeps,
  actor: Actor,
  request: EnrolBody,
): Promise<EnrolResponse> {
  if (actor.kind !== 'enrolment') {
    throw new KilnError(
      actor.kind === 'anonymous' ? 'unauthenticated' : 'forbidden',
      'this needs an enrolment token (`kiln worker token create`)',
    );
  }
  const secret = generateTokenSecret('worker');
  const worker = await deps.db.transaction().execute(async (trx) => {
    const row = await upsertWorker(trx, request.name, request.metadata);
    await revokeWorkerTokens(trx, row.id);
    const requeued = await requeueTasksOf(trx, row.id, 'worker re-enrolled');
    await notifyPending(trx, requeued, 'worker');
    await insertToken(trx, {
      hash: hashTokenSecret(secret),
      kind: 'worker',
      user_id: null,
      name: `worker ${request.name}`,
      scopes: [],
      expires_at: null,
      worker_id: row.id,
    });
    return row;
  });
  deps.logger.info({ worker: worker.name, metadata: request.metadata }, 'worker enrolled');
  return { worker: await toWorker(deps.db, actor, worker, deps.leaseSeconds), token: secret };
}

async function requeueTasksOf(db: Db, workerId: number, outcome: string): Promise<number> {
  const running = await listRunningTasksOf(db, workerId);
  for (const { id } of running) {
    const task = await lockTask(db, id);
    if (task?.state === 'running') {
      await requeueTask(db, task, outcome, false);
    }
  }
  return running.length;
}

/**
 * Records a heartbeat: the worker is alive, its tasks' leases are extended, and
 * it learns which of its tasks to stop (cancelled, or no longer its own).
 */
export async function heartbeat(
  deps: SchedulerDeps,
  actor: Actor,
  dynamic: WorkerDynamic,
): Promise<HeartbeatResponse> {
  const worker = requireWorker(actor);
  await recordHeartbeat(deps.db, worker.workerId, dynamic);
  // Only what the worker says it runs: a task whose claim's answer was lost
  // (the server crashed as it went out) is not, and its lease runs out.
  await extendLeases(deps.db, worker.workerId, deps.leaseSeconds, dynamic.running);
  const running = await listRunningTasksOf(deps.db, worker.workerId);
  const cancel = new Set(running.filter((t) => t.cancel_requested).map((t) => t.id));
  for (const reported of dynamic.running ?? []) {
    if (!running.some((t) => t.id === reported.task && t.attempt === reported.attempt)) {
      cancel.add(reported.task);
    }
  }
  return { cancel: [...cancel].sort((a, b) => a - b), lease_timeout: deps.leaseSeconds };
}

/**
 * Long-polls for a task that fits the worker: claims one at once if it can,
 * otherwise waits until woken by a new pending task (or the fallback poll) and
 * tries again, until `waitSeconds` pass. Returns `undefined` when none came.
 * The result of the worker's previous attempt, given as `completed`, is
 * recorded first (one request a task instead of two); if it is refused
 * (`stale_attempt`), nothing is claimed and the error is the answer. Such a
 * claim does not wait: when no task is there at once, the worker hears now
 * that its result was recorded, and waits with its next claim.
 */
export async function claimForWorker(
  deps: SchedulerDeps,
  actor: Actor,
  request: ClaimBody,
  signal: AbortSignal,
): Promise<Assignment | undefined> {
  const { workerId } = requireWorker(actor);
  if (request.completed !== undefined) {
    await completeWorkerAttempt(deps, workerId, request.completed);
  }
  const waitSeconds = request.completed === undefined ? (request.wait ?? 0) : 0;
  const deadline = Date.now() + waitSeconds * 1000;
  let retries = 0;
  for (let wake: Wake | undefined; ;) {
    const claim = await claimOnce(deps, workerId);
    if (claim.assignment !== undefined) {
      return claim.assignment;
    }
    // Another claimer held the tasks this one was offered: there may be more.
    if (claim.retry && retries < maxRetries && !signal.aborted) {
      retries += 1;
      continue;
    }
    retries = 0;
    // Woken for a task this worker does not fit: let the next waiter try.
    wake?.passOn();
    const remaining = deadline - Date.now();
    if (remaining <= 0 || signal.aborted) {
      return undefined;
    }
    wake = await deps.wakeups.worker.wait(Math.min(remaining, pollFallbackMs), signal);
  }
}

/** Claims again at once after losing the tasks offered to another claimer, at most this often. */
const maxRetries = 3;

export async function listWorkers(deps: SchedulerDeps, actor: Actor): Promise<Worker[]> {
  const rows = await listWorkerRows(deps.db);
  return Promise.all(rows.map((row) => toWorker(deps.db, actor, row, deps.leaseSeconds)));
}

async function findWorkerOrFail(db: Db, name: string): Promise<WorkerRow> {
  const worker = await findWorkerByName(db, name);
  if (worker === undefined) {
    throw new KilnError('not_found', `worker ${name} not found`);
  }
  return worker;
}

/** Enables or disables a worker (admin); a disabled worker claims nothing. */
export async function changeWorker(
  deps: SchedulerDeps,
  actor: Actor,
  name: string,
  enabled: boolean,
): Promise<Worker> {
  requireAdmin(actor);
  const worker = await findWorkerOrFail(deps.db, name);
  await setWorkerEnabled(deps.db, worker.id, enabled);
  return toWorker(deps.db, actor, { ...worker, enabled }, deps.leaseSeconds);
}

/** Removes a worker (admin): its token stops working and its tasks are requeued. */
export async function removeWorker(deps: SchedulerDeps, actor: Actor, name: string): Promise<void> {
  requireAdmin(actor);
  await deps.db.transaction().execute(async (trx) => {
    const worker = await findWorkerOrFail(trx, name);
    const requeued = await requeueTasksOf(trx, worker.id, 'worker removed');
    await notifyPending(trx, requeued, 'worker');
    await deleteWorker(trx, worker.id);
  });
}
