import { sql } from 'kysely';
import { batchedPerDatabase } from '../db/batcher.ts';
import type { Db } from '../db/connect.ts';
import type { Insertable, UpdateObject } from 'kysely';
import type { Database, TaskResultColumn, TaskRow, TasksTable } from '../db/schema.ts';
import { taskLogChannel } from './task-log.repository.ts';

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

/**
 * Records that `taskId` waits for `dependsOn`, and marks those as having
 * dependents (so that their ending looks for them: `endTaskAlone`).
 */
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
    await db
      .updateTable('tasks')
      .set({ has_dependents: true })
      .where('id', 'in', [...dependsOn])
      .where('has_dependents', '=', false)
      .execute();
  }
}

/** Tasks with the names the API shows, to narrow down with `where`. */
export function selectTaskWithNames(db: Db) {
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

/**
 * A page of a workspace's tasks, newest first, and how many there are: all of
 * them, or at most `countUpTo` (counting 100,000 rows costs more than the
 * page). The page's ids are found first, on the index alone, and only those
 * 50-odd rows are joined to their names, however deep the offset.
 */
export async function listTasksInWorkspace(
  db: Db,
  workspaceId: number,
  filter: {
    state?: string | undefined;
    type?: string | undefined;
    limit: number;
    offset: number;
    countUpTo?: number | undefined;
  },
): Promise<{ rows: TaskWithNames[]; total: number }> {
  let matching = db.selectFrom('tasks').where('workspace_id', '=', workspaceId);
  if (filter.state !== undefined) {
    matching = matching.where('state', '=', filter.state as TaskRow['state']);
  }
  if (filter.type !== undefined) {
    matching = matching.where('type', '=', filter.type);
  }
  const ids = matching.select('id').orderBy('id', 'desc').limit(filter.limit).offset(filter.offset);
  const counted =
    filter.countUpTo === undefined
      ? matching.select((eb) => eb.fn.countAll<number>().as('n'))
      : db
          .selectFrom(matching.select('id').limit(filter.countUpTo).as('capped'))
          .select((eb) => eb.fn.countAll<number>().as('n'));
  const [items, total] = await Promise.all([
    selectTaskWithNames(db).where('tasks.id', 'in', ids).orderBy('tasks.id', 'desc').execute(),
    counted.executeTakeFirstOrThrow(),
  ]);
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

/** One task's ending for `endTaskAlone`. */
interface LoneEnding {
  readonly taskId: number;
  readonly attempt: number;
  /** The worker reporting it, when not by its task token: the attempt must run on it. */
  readonly workerId: number | null;
  readonly ending: Omit<EndingColumns, 'state'> & { readonly result: TaskResultColumn };
}

/** Lone endings, batched per database: under load, one statement ends many tasks. */
const endAlone = batchedPerDatabase(endTasksAlone, { maxBatch: 200, concurrency: 1 });

/**
 * Completes a running attempt that nothing else needs to settle, in one
 * statement (no transaction; batched with other tasks' under load): the
 * task's row, its attempt, its task tokens, and a wake-up for its log's
 * followers. Returns `undefined`, changing nothing, unless attempt `attempt`
 * of `taskId` is running (on worker `workerId`, when given), not asked to cancel, no task depends on it and no
 * webhook of its workspace awaits `task.ended`; the caller then takes the
 * transactional way (`endTask`), which also says why and queues the
 * webhooks' deliveries. `hasLog`: the task wrote a live log to save.
 */
export function endTaskAlone(
  db: Db,
  own: {
    readonly taskId: number;
    readonly attempt: number;
    readonly workerId?: number | undefined;
  },
  ending: LoneEnding['ending'],
): Promise<{ readonly hasLog: boolean } | undefined> {
  const { taskId, attempt, workerId } = own;
  return endAlone(db, { taskId, attempt, workerId: workerId ?? null, ending });
}

async function endTasksAlone(
  db: Db,
  endings: readonly LoneEnding[],
): Promise<({ readonly hasLog: boolean } | undefined)[]> {
  const column = <T>(pick: (e: LoneEnding) => T) => endings.map(pick);
  const result = await sql<{ id: number; has_log: boolean }>`
    with given as (
      select * from unnest(${column((e) => e.taskId)}::bigint[], ${column((e) => e.attempt)}::int[],
        ${column((e) => e.workerId)}::bigint[],
        ${column((e) => e.ending.result)}::text[], ${column((e) => e.ending.reason)}::text[],
        ${column((e) => e.ending.message)}::text[],
        ${column((e) => (e.ending.output === null ? null : JSON.stringify(e.ending.output)))}::text[])
        as g(id, attempt, worker_id, result, reason, message, output)
    ),
    ended as (
      update tasks set state = 'completed', result = g.result,
        reason = g.reason, message = g.message, output = g.output::jsonb,
        completed_at = now(), lease_expires_at = null
      from given g
      where tasks.id = g.id and tasks.state = 'running' and tasks.attempt = g.attempt
        and (g.worker_id is null or tasks.worker_id = g.worker_id)
        and not tasks.cancel_requested and not tasks.has_dependents
        and not exists (select 1 from webhooks w
          where w.workspace_id = tasks.workspace_id and 'task.ended' = any(w.events))
      returning tasks.id, tasks.attempt, g.result
    ),
    attempt as (
      update task_attempts a set ended_at = now(), outcome = ended.result
      from ended
      where a.task_id = ended.id and a.attempt = ended.attempt and a.ended_at is null
    ),
    token as (
      update tokens set revoked_at = now()
      where task_id in (select id from ended) and revoked_at is null
    )
    select ended.id, exists (select 1 from task_log_chunks c where c.task_id = ended.id) as has_log,
      pg_notify(${taskLogChannel}, ended.id::text)::text as notified
    from ended`.execute(db);
  const byId = new Map(result.rows.map((row) => [row.id, row.has_log]));
  return endings.map((e) => {
    const hasLog = byId.get(e.taskId);
    return hasLog === undefined ? undefined : { hasLog };
  });
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
