import { KilnError } from '../../protocol/errors.ts';
import type { Assignment } from '../../protocol/workers.schema.ts';
import { generateTokenSecret, hashTokenSecret } from '../auth/secrets.ts';
import { createBatcher, type Batcher } from '../db/batcher.ts';
import type { Db } from '../db/connect.ts';
import type { WorkerRow } from '../db/schema.ts';
import { claimTasks, type ClaimedTask, type Claimer } from './claim.repository.ts';
import type { SchedulerDeps } from './scheduler.ts';
import { findWorkersByIds, touchWorkers } from './worker.repository.ts';

/** What one worker's claim got: a task, or nothing (`retry`: another claimer held the tasks). */
export type WorkerClaim =
  | { readonly assignment: Assignment }
  | { readonly assignment?: undefined; readonly retry: boolean };

/** A claim shows the worker is alive; a busy worker's claims record it at most this often. */
const claimSeenMs = 1000;

/** Claims of all workers, batched per database: one ranking and one statement for many. */
const batchers = new WeakMap<Db, Batcher<number, WorkerClaim | KilnError>>();

/**
 * Claims a task for the worker `workerId` once, with every worker that asks
 * at the same moment: under load one statement hands out a task to each of
 * many waiting workers, as one claim after another would (`claimTasks`).
 */
export async function claimOnce(deps: SchedulerDeps, workerId: number): Promise<WorkerClaim> {
  let batcher = batchers.get(deps.db);
  if (batcher === undefined) {
    // One batch at a time: two would rank the same tasks and contend for them.
    batcher = createBatcher((ids) => claimBatch(deps, ids), { maxBatch: 500, concurrency: 1 });
    batchers.set(deps.db, batcher);
  }
  const claim = await batcher.run(workerId);
  if (claim instanceof KilnError) {
    throw claim;
  }
  return claim;
}

export function claimerOf(worker: WorkerRow): Claimer {
  return {
    runsOn: 'worker',
    architectures: worker.architectures,
    crossArchitectures: worker.cross_architectures,
    executors: worker.executors,
    memory: worker.memory,
    freeDisk: worker.free_disk ?? worker.disk,
    tags: worker.tags,
  };
}

async function claimBatch(
  deps: SchedulerDeps,
  workerIds: readonly number[],
): Promise<(WorkerClaim | KilnError)[]> {
  const workers = new Map(
    (await findWorkersByIds(deps.db, [...new Set(workerIds)])).map((w) => [w.id, w]),
  );
  const now = Date.now();
  await touchWorkers(
    deps.db,
    [...workers.values()]
      .filter((w) => now - w.last_seen_at.getTime() >= claimSeenMs)
      .map((w) => w.id),
  );
  const claims: (WorkerClaim | KilnError)[] = [];
  // Workers of the same capabilities claim together.
  const groups = new Map<string, { claimer: Claimer; requests: number[] }>();
  for (const [i, id] of workerIds.entries()) {
    const worker = workers.get(id);
    if (worker === undefined) {
      claims[i] = new KilnError('unauthenticated', 'this worker was removed');
    } else if (!worker.enabled) {
      claims[i] = new KilnError('worker_disabled', `worker ${worker.name} is disabled`);
    } else {
      const claimer = claimerOf(worker);
      const key = JSON.stringify(claimer);
      const group = groups.get(key) ?? { claimer, requests: [] };
      group.requests.push(i);
      groups.set(key, group);
    }
  }
  for (const { claimer, requests } of groups.values()) {
    const secrets = requests.map(() => generateTokenSecret('task'));
    const batch = await claimTasks(
      deps.db,
      claimer,
      requests.map((i, j) => {
        const worker = workers.get(workerIds[i] ?? 0) as WorkerRow;
        return {
          workerId: worker.id,
          workerName: worker.name,
          leaseSeconds: deps.leaseSeconds,
          tokenHash: hashTokenSecret(secrets[j] ?? ''),
        };
      }),
    );
    for (const [j, task] of batch.claimed.entries()) {
      claims[requests[j] ?? 0] =
        task === undefined
          ? { retry: batch.contended }
          : { assignment: toAssignment(task, secrets[j] ?? '') };
    }
  }
  return claims;
}

function toAssignment(task: ClaimedTask, token: string): Assignment {
  return {
    task: task.id,
    attempt: task.attempt,
    type: task.type,
    workspace: task.workspace_name,
    input: task.input,
    requirements: {
      architecture: task.architecture,
      host_architecture: task.host_architecture,
      executor: task.executor,
    },
    time_limit: task.time_limit,
    token,
  };
}
