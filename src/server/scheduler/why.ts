import type { WhyResponse } from '../../protocol/tasks.schema.ts';
import type { Actor } from '../auth/actor.ts';
import type { WorkerRow } from '../db/schema.ts';
import type { SchedulerDeps } from './scheduler.ts';
import { authorizeTask } from './task.service.ts';
import { listUnfinishedDependencies, type TaskWithNames } from './task.repository.ts';
import { listOnlineWorkers } from './worker.repository.ts';

type Reason = WhyResponse['reasons'][number];

/** The requirement checks, in the order a user should read them. */
const checks: readonly {
  readonly code: string;
  readonly applies: (task: TaskWithNames) => boolean;
  readonly fits: (task: TaskWithNames, worker: WorkerRow) => boolean;
  readonly explain: (task: TaskWithNames) => string;
}[] = [
  {
    code: 'no-worker-for-architecture',
    applies: (t) => t.architecture !== null,
    fits: (t, w) => t.architecture !== null && w.architectures.includes(t.architecture),
    explain: (t) => `no online worker runs architecture ${t.architecture ?? ''}`,
  },
  {
    code: 'no-worker-for-host-architecture',
    applies: (t) => t.host_architecture !== null && t.host_architecture !== t.architecture,
    fits: (t, w) =>
      t.host_architecture !== null &&
      (w.cross_architectures.includes(t.host_architecture) ||
        (t.architecture === null && w.architectures.includes(t.host_architecture))),
    explain: (t) =>
      `no online worker${t.architecture === null ? '' : ` on ${t.architecture}`} can build for ${t.host_architecture ?? ''}`,
  },
  {
    code: 'no-worker-with-executor',
    applies: (t) => t.executor !== null,
    fits: (t, w) => t.executor !== null && w.executors.includes(t.executor),
    explain: (t) => `no online worker has executor ${t.executor ?? ''}`,
  },
  {
    code: 'no-worker-with-memory',
    applies: (t) => t.min_memory > 0,
    fits: (t, w) => w.memory >= t.min_memory,
    explain: (t) => `no online worker has ${formatBytes(t.min_memory)} of memory`,
  },
  {
    code: 'no-worker-with-disk',
    applies: (t) => t.min_disk > 0,
    fits: (t, w) => (w.free_disk ?? w.disk) >= t.min_disk,
    explain: (t) => `no online worker has ${formatBytes(t.min_disk)} of free disk`,
  },
  {
    code: 'no-worker-with-tags',
    applies: (t) => t.tags.length > 0,
    fits: (t, w) => t.tags.every((tag) => w.tags.includes(tag)),
    explain: (t) => `no online worker has tag${t.tags.length > 1 ? 's' : ''} ${t.tags.join(', ')}`,
  },
];

function formatBytes(bytes: number): string {
  const gib = bytes / 1024 ** 3;
  return gib >= 1 ? `${gib.toFixed(gib < 10 ? 1 : 0)} GiB` : `${Math.ceil(bytes / 1024 ** 2)} MiB`;
}

/**
 * Says why a task is not running: what it waits for, which requirement no
 * online worker meets (narrowing the workers down requirement by requirement,
 * so the first unmet one is named), a workspace at its limit, or its place in
 * the queue.
 */
export async function explainTask(
  deps: SchedulerDeps,
  actor: Actor,
  id: number,
): Promise<WhyResponse> {
  const task = await authorizeTask(deps.db, actor, id, 'read');
  const reasons: Reason[] = [];
  if (task.state === 'blocked') {
    for (const dep of await listUnfinishedDependencies(deps.db, id)) {
      reasons.push({
        code: 'waiting-on-task',
        message: `waiting on task ${dep.id} (${dep.state})`,
      });
    }
  } else if (task.state === 'pending') {
    reasons.push(...(await explainPending(deps, task)));
  } else if (task.state === 'running') {
    reasons.push({
      code: 'running',
      message: `running on ${task.worker_name ?? 'a server'} (attempt ${task.attempt})`,
    });
  } else {
    reasons.push({
      code: task.state,
      message: `the task is ${task.state}${task.result === null ? '' : ` (${task.result})`}`,
    });
  }
  return { task: id, state: task.state, reasons };
}

async function explainPending(deps: SchedulerDeps, task: TaskWithNames): Promise<Reason[]> {
  const reasons: Reason[] = [];
  if (task.runs_on === 'worker') {
    let candidates = await listOnlineWorkers(deps.db, deps.leaseSeconds);
    if (candidates.length === 0) {
      reasons.push({ code: 'no-worker-online', message: 'no worker is online' });
    }
    for (const check of checks) {
      if (candidates.length === 0) {
        break;
      }
      if (check.applies(task)) {
        candidates = candidates.filter((w) => check.fits(task, w));
        if (candidates.length === 0) {
          reasons.push({ code: check.code, message: check.explain(task) });
        }
      }
    }
  }
  const workspace = await deps.db
    .selectFrom('workspaces')
    .select(['name', 'max_running_tasks'])
    .where('id', '=', task.workspace_id)
    .executeTakeFirstOrThrow();
  const running = await deps.db
    .selectFrom('tasks')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('workspace_id', '=', task.workspace_id)
    .where('state', '=', 'running')
    .executeTakeFirstOrThrow();
  if (workspace.max_running_tasks !== null && running.n >= workspace.max_running_tasks) {
    reasons.push({
      code: 'workspace-limit',
      message: `workspace ${workspace.name} runs ${running.n} tasks, its limit`,
    });
  }
  if (reasons.length === 0) {
    const ahead = await deps.db
      .selectFrom('tasks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('state', '=', 'pending')
      .where('runs_on', '=', task.runs_on)
      .where('queue_key', '>', task.queue_key)
      .executeTakeFirstOrThrow();
    reasons.push({
      code: 'queued',
      message:
        ahead.n === 0
          ? 'next in the queue: waiting for a fitting worker to ask for work'
          : `queued: ${ahead.n} pending tasks score higher`,
    });
  }
  return reasons;
}
