import { sql } from 'kysely';
import { KilnError } from '../../protocol/errors.ts';
import type { SubmitTaskBody, Task, TaskSummary, TaskState } from '../../protocol/tasks.schema.ts';
import { actorUserId, isAdmin, type Actor } from '../auth/actor.ts';
import { requireAdmin } from '../auth/auth.service.ts';
import { findVisibleArtifactIds } from '../artifacts/artifact.repository.ts';
import type { Db } from '../db/connect.ts';
import type { TaskRow } from '../db/schema.ts';
import {
  authorizeWorkspace,
  canSee,
  checkWorkspaceAccess,
  findWorkspaceAccessById,
  roleAllows,
} from '../workspaces/access.ts';
import { bindingPlaceholder, checkBindings, withPlaceholders } from './task-bindings.ts';
import { endingForDependencies, insertCheckedTask } from './task-insert.ts';
import { endTask, requeueTask } from './task-lifecycle.ts';
import type { TaskTypeRegistry } from './task-types.ts';
import { describeTask, toTaskSummary } from './task-view.ts';
import {
  findTask,
  listBlockedFailedDescendants,
  listTasksInWorkspace,
  listUnfinishedDependencies,
  lockTask,
  notifyPending,
  updateTasks,
  type TaskWithNames,
} from './task.repository.ts';

export interface TaskDeps {
  readonly db: Db;
  readonly registry: TaskTypeRegistry;
}

/**
 * Loads a task and checks the actor may read it, or change it (cancel, retry):
 * writers, or uploaders for tasks they submitted. A task in a workspace the
 * actor cannot see is `not_found`.
 */
export async function authorizeTask(
  db: Db,
  actor: Actor,
  id: number,
  action: 'read' | 'change',
): Promise<TaskWithNames> {
  const task = await findTask(db, id);
  const access =
    task === undefined ? undefined : await findWorkspaceAccessById(db, actor, task.workspace_id);
  const ownTask = actor.kind === 'task' && actor.taskId === id;
  if (task === undefined || access === undefined || (!canSee(actor, access) && !ownTask)) {
    throw new KilnError('not_found', `task ${id} not found`);
  }
  if (ownTask && action === 'read') {
    return task;
  }
  const submitter = task.created_by !== null && task.created_by === actorUserId(actor);
  checkWorkspaceAccess(
    actor,
    access,
    action === 'read'
      ? 'read'
      : submitter && roleAllows(access.role, 'upload')
        ? 'upload'
        : 'write',
  );
  return task;
}

export async function showTask(deps: TaskDeps, actor: Actor, id: number): Promise<Task> {
  return describeTask(deps.db, await authorizeTask(deps.db, actor, id, 'read'));
}

export async function listTasks(
  deps: TaskDeps,
  actor: Actor,
  workspace: string,
  filter: {
    state?: TaskState | undefined;
    type?: string | undefined;
    limit?: number | undefined;
    offset?: number | undefined;
    /** Count at most this many (the web UI's pages); the API counts all. */
    countUpTo?: number | undefined;
  },
): Promise<{ items: TaskSummary[]; total: number }> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'read');
  const { rows, total } = await listTasksInWorkspace(deps.db, access.workspace.id, {
    state: filter.state,
    type: filter.type,
    limit: filter.limit ?? 100,
    offset: filter.offset ?? 0,
    countUpTo: filter.countUpTo,
  });
  return { items: rows.map((row) => toTaskSummary(row)), total };
}

/**
 * Submits a task of a registered type. Its input is checked against the type's
 * schema, the artifacts it reads must be visible to the submitter, and its
 * dependencies must be tasks the submitter can see. It starts pending, or
 * blocked until its dependencies succeed (or ends at once as `blocked-failed`
 * when one has already failed, or cancelled when one was cancelled). A task
 * token submits nothing.
 */
export async function submitTask(
  deps: TaskDeps,
  actor: Actor,
  workspace: string,
  request: SubmitTaskBody,
  options: { readonly internal?: boolean } = {},
): Promise<Task> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'upload');
  if (actor.kind === 'task') {
    // A task token may add outputs to its workspace, but starts no work there.
    throw new KilnError('forbidden', "a task token reaches only its task's inputs and outputs");
  }
  const type = deps.registry.get(request.type);
  if (type === undefined || (type.internal === true && options.internal !== true)) {
    throw new KilnError(
      'unknown_task_type',
      `${JSON.stringify(request.type)} is not a task type (${deps.registry.names().join(', ')})`,
    );
  }
  const given = request.input ?? {};
  const bindings = request.bindings ?? [];
  const dependsOn = request.depends_on ?? [];
  checkBindings(bindings, given, dependsOn);
  const input = deps.registry.checkInput(type, withPlaceholders(given, bindings));
  if ((request.priority ?? 0) > 0 && !isAdmin(actor)) {
    throw new KilnError('forbidden', 'only admins may raise a priority');
  }
  const inputArtifacts = [
    ...new Set((type.inputArtifacts?.(input) ?? []).filter((id) => id !== bindingPlaceholder)),
  ];
  const visible = await findVisibleArtifactIds(deps.db, actor, inputArtifacts);
  const missing = inputArtifacts.find((id) => !visible.has(id));
  if (missing !== undefined) {
    throw new KilnError('not_found', `artifact ${missing} not found`);
  }
  const id = await deps.db.transaction().execute(async (trx) => {
    const row = await insertCheckedTask(trx, {
      workspaceId: access.workspace.id,
      type,
      input: given,
      checkedInput: input,
      bindings,
      dependencies: await checkDependencies(trx, actor, dependsOn),
      requirements: { ...type.requirements?.(input), ...request.requirements },
      priority: request.priority ?? 0,
      createdBy: actorUserId(actor) ?? null,
      timeLimit: request.time_limit,
      maxLostLeases: request.max_lost_leases,
    });
    return row.id;
  });
  return showTask(deps, actor, id);
}

function isFailed(task: Pick<TaskRow, 'state' | 'result'>): boolean {
  return task.state === 'cancelled' || (task.state === 'completed' && task.result !== 'success');
}

async function checkDependencies(db: Db, actor: Actor, ids: readonly number[]) {
  if (ids.length === 0) {
    return [];
  }
  const rows = await db
    .selectFrom('tasks')
    .select(['id', 'state', 'result', 'workspace_id'])
    .where('id', 'in', [...ids])
    // The lock an ending's UPDATE waits for: it then sees `has_dependents` set.
    .forNoKeyUpdate()
    .execute();
  for (const id of ids) {
    const row = rows.find((r) => r.id === id);
    const access =
      row === undefined ? undefined : await findWorkspaceAccessById(db, actor, row.workspace_id);
    if (access === undefined || !canSee(actor, access)) {
      throw new KilnError('not_found', `task ${id} not found`);
    }
  }
  return rows;
}

/**
 * Cancels a task: a blocked or pending one at once (and the tasks waiting for
 * it); a running one is marked, and its worker stops it at its next heartbeat.
 * A finished task is left as it is.
 */
export async function cancelTask(deps: TaskDeps, actor: Actor, id: number): Promise<Task> {
  await authorizeTask(deps.db, actor, id, 'change');
  await deps.db.transaction().execute(async (trx) => {
    const task = await lockTask(trx, id);
    if (task === undefined) {
      throw new KilnError('not_found', `task ${id} not found`);
    }
    if (task.state === 'blocked' || task.state === 'pending') {
      await endTask(trx, task, {
        state: 'cancelled',
        reason: 'cancelled',
        message: 'cancelled by a user',
      });
    } else if (task.state === 'running') {
      await trx.updateTable('tasks').set({ cancel_requested: true }).where('id', '=', id).execute();
    }
  });
  return showTask(deps, actor, id);
}

/**
 * Retries a task, whatever its state: a finished or cancelled task goes back to
 * the queue (with the tasks that ended because it failed); a running one is
 * taken from its worker and requeued; a queued one stays as it is.
 */
export async function retryTask(deps: TaskDeps, actor: Actor, id: number): Promise<Task> {
  await authorizeTask(deps.db, actor, id, 'change');
  await deps.db.transaction().execute(async (trx) => {
    const task = await lockTask(trx, id);
    if (task === undefined) {
      throw new KilnError('not_found', `task ${id} not found`);
    }
    await retryLockedTask(trx, task);
  });
  return showTask(deps, actor, id);
}

/**
 * Retries a task locked by the caller's transaction, as `retryTask` does
 * (workflow runs retry their errored tasks with it).
 */
export async function retryLockedTask(trx: Db, task: TaskRow): Promise<void> {
  const id = task.id;
  if (task.state === 'running') {
    await requeueTask(trx, task, 'retried', false);
    await trx
      .updateTable('tasks')
      .set({ lost_leases: 0, cancel_requested: false })
      .where('id', '=', id)
      .execute();
    await notifyPending(trx, 1, task.runs_on);
    return;
  }
  if (task.state !== 'completed' && task.state !== 'cancelled') {
    return;
  }
  const unfinished = await listUnfinishedDependencies(trx, id);
  const failed = unfinished.find((d) => isFailed(d));
  if (failed !== undefined) {
    throw new KilnError(
      'conflict',
      `task ${id} depends on task ${failed.id}, which did not succeed: retry that first`,
    );
  }
  const reset = {
    result: null,
    reason: null,
    message: null,
    output: null,
    started_at: null,
    completed_at: null,
    worker_id: null,
    lost_leases: 0,
    cancel_requested: false,
    log_artifact_id: null,
  } as const;
  await updateTasks(trx, [id], {
    ...reset,
    state: unfinished.length === 0 ? 'pending' : 'blocked',
  });
  // The tasks that ended because this one failed wait for it again...
  const dependents = await listBlockedFailedDescendants(trx, id);
  await updateTasks(trx, dependents, { ...reset, state: 'blocked' });
  // ...unless another of their dependencies did not succeed either. A task's
  // dependencies are older than it, so in id order each is settled first.
  for (const dependent of dependents) {
    const ended = endingForDependencies(await listUnfinishedDependencies(trx, dependent));
    if (ended !== undefined) {
      await updateTasks(trx, [dependent], { ...ended, completed_at: sql<Date>`now()` });
    }
  }
  if (unfinished.length === 0) {
    await notifyPending(trx, 1, task.runs_on);
  }
}

/** Sets a task's priority (the admin adjustment to its score). */
export async function setTaskPriority(
  deps: TaskDeps,
  actor: Actor,
  id: number,
  priority: number,
): Promise<Task> {
  if (!isAdmin(actor)) {
    // A task the actor cannot see is not_found; one it can, the admin check refuses.
    await authorizeTask(deps.db, actor, id, 'read');
    requireAdmin(actor);
  }
  await authorizeTask(deps.db, actor, id, 'change');
  await deps.db
    .updateTable('tasks')
    .set({
      priority,
      queue_key: sql<number>`base_score + ${priority} - extract(epoch from created_at) / 60`,
    })
    .where('id', '=', id)
    .execute();
  return showTask(deps, actor, id);
}
