import { sql } from 'kysely';
import type { Db } from '../db/connect.ts';
import type { Insertable, UpdateObject } from 'kysely';
import type { Database, TaskResultColumn, TaskRow, TasksTable } from '../db/schema.ts';

/** A task row with the names the API shows. */
export type TaskWithNames = TaskRow & {
  readonly workspace_name: string;
  readonly creator: string | null;
  readonly worker_name: string | null;
};

export type NewTask = Omit<Insertable<TasksTable>, 'queue_key'>;

/**
 * Inserts a task. Its queue key is its score minus its creation time in
 * minutes: ordering by it is ordering by score plus minutes waited.
 */
export function insertTask(db: Db, task: NewTask): Promise<TaskRow> {
  return db
    .insertInto('tasks')
    .values({
      ...task,
      queue_key: sql<number>`${task.base_score + task.priority} - extract(epoch from now()) / 60`,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function insertDependencies(
  db: Db,
  taskId: number,
  dependsOn: readonly number[],
): Promise<void> {
  if (dependsOn.length > 0) {
    await db
      .insertInto('task_dependencies')
      .values(dependsOn.map((d) => ({ task_id: taskId, depends_on: d })))
      .execute();
  }
}

function selectTaskWithNames(db: Db) {
  return db
    .selectFrom('tasks')
    .innerJoin('workspaces as w', 'w.id', 'tasks.workspace_id')
    .leftJoin('users as u', 'u.id', 'tasks.created_by')
    .leftJoin('workers as wk', 'wk.id', 'tasks.worker_id')
    .selectAll('tasks')
    .select(['w.name as workspace_name', 'u.username as creator', 'wk.name as worker_name']);
}

export function findTask(db: Db, id: number): Promise<TaskWithNames | undefined> {
  return selectTaskWithNames(db).where('tasks.id', '=', id).executeTakeFirst();
}

/** Locks a task's row until the transaction ends. */
export function lockTask(db: Db, id: number): Promise<TaskRow | undefined> {
  return db.selectFrom('tasks').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function listTasksInWorkspace(
  db: Db,
  workspaceId: number,
  filter: { state?: string | undefined; type?: string | undefined; limit: number; offset: number },
): Promise<{ rows: TaskWithNames[]; total: number }> {
  let rows = selectTaskWithNames(db).where('tasks.workspace_id', '=', workspaceId);
  let count = db
    .selectFrom('tasks')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('workspace_id', '=', workspaceId);
  if (filter.state !== undefined) {
    rows = rows.where('tasks.state', '=', filter.state as TaskRow['state']);
    count = count.where('state', '=', filter.state as TaskRow['state']);
  }
  if (filter.type !== undefined) {
    rows = rows.where('tasks.type', '=', filter.type);
    count = count.where('type', '=', filter.type);
  }
  const items = await rows
    .orderBy('tasks.id', 'desc')
    .limit(filter.limit)
    .offset(filter.offset)
    .execute();
  const total = await count.executeTakeFirstOrThrow();
  return { rows: items, total: total.n };
}

export async function listDependencies(db: Db, id: number): Promise<number[]> {
  const rows = await db
    .selectFrom('task_dependencies')
    .select('depends_on')
    .where('task_id', '=', id)
    .orderBy('depends_on')
    .execute();
  return rows.map((r) => r.depends_on);
}

/** The tasks `id` waits for that have not succeeded, with their states. */
export function listUnfinishedDependencies(db: Db, id: number) {
  return db
    .selectFrom('task_dependencies as d')
    .innerJoin('tasks as t', 't.id', 'd.depends_on')
    .select(['t.id', 't.state', 't.result'])
    .where('d.task_id', '=', id)
    .where((eb) =>
      eb.not(eb.and([eb('t.state', '=', 'completed'), eb('t.result', '=', 'success')])),
    )
    .orderBy('t.id')
    .execute();
}

export function listAttempts(db: Db, id: number) {
  return db
    .selectFrom('task_attempts')
    .selectAll()
    .where('task_id', '=', id)
    .orderBy('attempt')
    .execute();
}

export async function endAttempt(
  db: Db,
  taskId: number,
  attempt: number,
  outcome: string,
): Promise<void> {
  await db
    .updateTable('task_attempts')
    .set({ ended_at: sql<Date>`now()`, outcome })
    .where('task_id', '=', taskId)
    .where('attempt', '=', attempt)
    .where('ended_at', 'is', null)
    .execute();
}

/** Revokes the task tokens of a task (all attempts). */
export async function revokeTaskTokens(db: Db, taskId: number): Promise<void> {
  await db
    .updateTable('tokens')
    .set({ revoked_at: sql<Date>`now()` })
    .where('task_id', '=', taskId)
    .where('revoked_at', 'is', null)
    .execute();
}

/** What an ending writes on the task's row. */
export interface EndingColumns {
  readonly state: 'completed' | 'cancelled';
  readonly result: TaskResultColumn | null;
  readonly reason: string | null;
  readonly message: string | null;
  readonly output: Record<string, unknown> | null;
}

/**
 * Ends a task in one statement: its row, its current attempt (when `task` was
 * running) with `outcome`, and its task tokens (all attempts).
 */
export async function recordEnding(
  db: Db,
  task: Pick<TaskRow, 'id' | 'state' | 'attempt'>,
  ending: EndingColumns,
  outcome: string,
): Promise<void> {
  await sql`
    with ended as (
      update tasks set state = ${ending.state}, result = ${ending.result},
        reason = ${ending.reason}, message = ${ending.message},
        output = ${ending.output === null ? null : JSON.stringify(ending.output)}::jsonb,
        completed_at = now(), lease_expires_at = null, cancel_requested = false
      where id = ${task.id}
    ),
    attempt as (
      update task_attempts set ended_at = now(), outcome = ${outcome}
      where ${task.state === 'running'} and task_id = ${task.id} and attempt = ${task.attempt}
        and ended_at is null
    )
    update tokens set revoked_at = now() where task_id = ${task.id} and revoked_at is null`.execute(
    db,
  );
}

/**
 * Locks the blocked tasks that wait for `taskId`, in id order (so that
 * concurrent completions do not deadlock), and returns their ids.
 */
export async function lockBlockedDependents(db: Db, taskId: number): Promise<number[]> {
  const rows = await db
    .selectFrom('tasks')
    .select('tasks.id')
    .where('tasks.state', '=', 'blocked')
    .where('tasks.id', 'in', (eb) =>
      eb.selectFrom('task_dependencies').select('task_id').where('depends_on', '=', taskId),
    )
    .orderBy('tasks.id')
    .forUpdate()
    .execute();
  return rows.map((r) => r.id);
}

/**
 * Of the locked `ids`, those whose dependencies have all succeeded. Run as its
 * own statement after the locks are held: its snapshot then sees every
 * dependency that completed before.
 */
export async function listReady(db: Db, ids: readonly number[]): Promise<TaskRow[]> {
  if (ids.length === 0) {
    return [];
  }
  return db
    .selectFrom('tasks')
    .selectAll()
    .where('id', 'in', [...ids])
    .where('state', '=', 'blocked')
    .where(
      sql<boolean>`not exists (
        select 1 from task_dependencies d join tasks dep on dep.id = d.depends_on
        where d.task_id = tasks.id and not (dep.state = 'completed' and dep.result = 'success'))`,
    )
    .orderBy('id')
    .execute();
}

/** The outputs of tasks, by id (for filling bindings). */
export async function findOutputs(
  db: Db,
  ids: readonly number[],
): Promise<Map<number, Record<string, unknown> | null>> {
  if (ids.length === 0) {
    return new Map();
  }
  const rows = await db
    .selectFrom('tasks')
    .select(['id', 'output'])
    .where('id', 'in', [...ids])
    .execute();
  return new Map(rows.map((r) => [r.id, r.output]));
}

/** Every blocked task that (transitively) waits for `taskId`. */
export async function listBlockedDescendants(db: Db, taskId: number): Promise<number[]> {
  const rows = await sql<{ id: number }>`
    with recursive descendants(id) as (
      select task_id from task_dependencies where depends_on = ${taskId}
      union
      select d.task_id from task_dependencies d join descendants on d.depends_on = descendants.id
    )
    select t.id from tasks t join descendants on descendants.id = t.id
    where t.state = 'blocked' order by t.id for update of t`.execute(db);
  return rows.rows.map((r) => r.id);
}

/** Every task that (transitively) waits for `taskId` and ended because of it. */
export async function listBlockedFailedDescendants(db: Db, taskId: number): Promise<number[]> {
  const rows = await sql<{ id: number }>`
    with recursive descendants(id) as (
      select task_id from task_dependencies where depends_on = ${taskId}
      union
      select d.task_id from task_dependencies d join descendants on d.depends_on = descendants.id
    )
    select t.id from tasks t join descendants on descendants.id = t.id
    where (t.state = 'completed' and t.reason = 'blocked-failed')
       or (t.state = 'cancelled' and t.reason = 'dependency-cancelled')
    order by t.id for update of t`.execute(db);
  return rows.rows.map((r) => r.id);
}

export async function updateTasks(
  db: Db,
  ids: readonly number[],
  changes: UpdateObject<Database, 'tasks'>,
): Promise<void> {
  if (ids.length > 0) {
    await db
      .updateTable('tasks')
      .set(changes)
      .where('id', 'in', [...ids])
      .execute();
  }
}

/** Running tasks whose lease has run out, locked (skipping those others hold). */
export async function lockExpiredLeases(db: Db, limit: number): Promise<TaskRow[]> {
  return db
    .selectFrom('tasks')
    .selectAll()
    .where('state', '=', 'running')
    .where('lease_expires_at', '<', sql<Date>`now()`)
    .orderBy('lease_expires_at')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
}

/**
 * Sends the wake-up that claimers wait for (on commit): `count` tasks became
 * pending, all for workers or all for servers when `runsOn` says so (then only
 * those claimers wake), or of either kind.
 */
export async function notifyPending(
  db: Db,
  count: number,
  runsOn?: TaskRow['runs_on'],
): Promise<void> {
  if (count > 0) {
    const payload = runsOn === undefined ? String(count) : `${runsOn} ${count}`;
    await sql`select pg_notify(${taskPendingChannel}, ${payload})`.execute(db);
  }
}

export const taskPendingChannel = 'kiln_task_pending';

/** Reads a `notifyPending` payload: how many tasks, and for whom (`undefined`: either). */
export function parsePendingPayload(payload: string): {
  count: number;
  runsOn: TaskRow['runs_on'] | undefined;
} {
  const [first = '', second] = payload.split(' ');
  const runsOn = first === 'worker' || first === 'server' ? first : undefined;
  const count = Number(runsOn === undefined ? first : second);
  return { count: Number.isSafeInteger(count) && count > 0 ? count : 1, runsOn };
}
