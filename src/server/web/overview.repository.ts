import { sql } from 'kysely';
import type { Actor } from '../auth/actor.ts';
import type { Db } from '../db/connect.ts';
import type { TaskRow } from '../db/schema.ts';
import { selectTaskWithNames, type TaskWithNames } from '../scheduler/task.repository.ts';
import { visibleWorkspaces } from '../workspaces/access.ts';

/**
 * Queries across workspaces for the dashboard and the queue page. Each keeps to
 * the workspaces the actor may see (`visibleWorkspaces`, the rule the API's
 * lists use), so a private workspace's work does not show, not even in counts.
 */
function selectVisibleTasks(db: Db, actor: Actor) {
  return selectTaskWithNames(db).where('tasks.workspace_id', 'in', (eb) =>
    eb.selectFrom('workspaces').select('workspaces.id').where(visibleWorkspaces(actor)),
  );
}

/** Running tasks, oldest start first. */
export function listVisibleRunning(db: Db, actor: Actor, limit: number): Promise<TaskWithNames[]> {
  return selectVisibleTasks(db, actor)
    .where('tasks.state', '=', 'running')
    .orderBy('tasks.started_at')
    .limit(limit)
    .execute();
}

/** Tasks that ended without success (failed, errored, cancelled), newest first. */
export function listVisibleFailures(db: Db, actor: Actor, limit: number): Promise<TaskWithNames[]> {
  return selectVisibleTasks(db, actor)
    .where((eb) =>
      eb.or([
        eb.and([eb('tasks.state', '=', 'completed'), eb('tasks.result', '!=', 'success')]),
        eb('tasks.state', '=', 'cancelled'),
      ]),
    )
    .orderBy('tasks.completed_at', 'desc')
    .limit(limit)
    .execute();
}

/** Pending tasks, highest queue key (score plus time waited) first. */
export function listVisiblePending(
  db: Db,
  actor: Actor,
  filter: { architecture?: string | undefined; workspace?: string | undefined; limit: number },
): Promise<TaskWithNames[]> {
  let query = selectVisibleTasks(db, actor).where('tasks.state', '=', 'pending');
  if (filter.architecture !== undefined) {
    query = query.where(sql<string>`coalesce(tasks.architecture, 'any')`, '=', filter.architecture);
  }
  if (filter.workspace !== undefined) {
    query = query.where('w.name', '=', filter.workspace);
  }
  return query.orderBy('tasks.queue_key', 'desc').limit(filter.limit).execute();
}

export interface StateCount {
  readonly key: string;
  readonly state: TaskRow['state'];
  readonly n: number;
}

/** Counts of blocked, pending and running tasks per architecture ("any" when none is required). */
export function countUnfinishedByArchitecture(db: Db, actor: Actor): Promise<StateCount[]> {
  return db
    .selectFrom('tasks')
    .innerJoin('workspaces', 'workspaces.id', 'tasks.workspace_id')
    .select((eb) => [
      sql<string>`coalesce(tasks.architecture, 'any')`.as('key'),
      'tasks.state',
      eb.fn.countAll<number>().as('n'),
    ])
    .where('tasks.state', 'in', ['blocked', 'pending', 'running'])
    .where(visibleWorkspaces(actor))
    .groupBy([sql`coalesce(tasks.architecture, 'any')`, 'tasks.state'])
    .orderBy('key')
    .execute();
}

/** Counts of blocked, pending and running tasks per workspace. */
export function countUnfinishedByWorkspace(db: Db, actor: Actor): Promise<StateCount[]> {
  return db
    .selectFrom('tasks')
    .innerJoin('workspaces', 'workspaces.id', 'tasks.workspace_id')
    .select((eb) => ['workspaces.name as key', 'tasks.state', eb.fn.countAll<number>().as('n')])
    .where('tasks.state', 'in', ['blocked', 'pending', 'running'])
    .where(visibleWorkspaces(actor))
    .groupBy(['workspaces.name', 'tasks.state'])
    .orderBy('workspaces.name')
    .execute();
}
