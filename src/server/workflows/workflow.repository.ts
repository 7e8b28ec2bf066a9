import { sql, type Insertable, type UpdateObject } from 'kysely';
import type { Db } from '../db/connect.ts';
import { enqueueRunEvent, runWebhookEvents } from '../notifications/webhook.repository.ts';
import type {
  Database,
  WorkflowEventRow,
  WorkflowRunRow,
  WorkflowRunsTable,
  WorkflowTemplateRow,
  WorkflowTemplatesTable,
} from '../db/schema.ts';

/** The channel a run's id is sent on when one of its tasks changed. */
export const runWakeupChannel = 'kiln_workflow_run';
/** The channel a new event's id is sent on. */
export const workflowEventChannel = 'kiln_workflow_event';

export type TemplateWithNames = WorkflowTemplateRow & {
  readonly workspace_name: string;
  readonly creator: string | null;
};
export type RunWithNames = WorkflowRunRow & {
  readonly workspace_name: string;
  readonly creator: string | null;
};

export function insertTemplate(
  db: Db,
  template: Insertable<WorkflowTemplatesTable>,
): Promise<WorkflowTemplateRow> {
  return db
    .insertInto('workflow_templates')
    .values(template)
    .returningAll()
    .executeTakeFirstOrThrow();
}

function selectTemplates(db: Db) {
  return db
    .selectFrom('workflow_templates as t')
    .innerJoin('workspaces as w', 'w.id', 't.workspace_id')
    .leftJoin('users as u', 'u.id', 't.created_by')
    .selectAll('t')
    .select(['w.name as workspace_name', 'u.username as creator']);
}

export function findTemplate(
  db: Db,
  workspaceId: number,
  name: string,
): Promise<TemplateWithNames | undefined> {
  return selectTemplates(db)
    .where('t.workspace_id', '=', workspaceId)
    .where('t.name', '=', name)
    .executeTakeFirst();
}

export function listTemplates(db: Db, workspaceId: number): Promise<TemplateWithNames[]> {
  return selectTemplates(db).where('t.workspace_id', '=', workspaceId).orderBy('t.name').execute();
}

export async function deleteTemplate(db: Db, id: number): Promise<void> {
  await db.deleteFrom('workflow_templates').where('id', '=', id).execute();
}

export function insertRun(db: Db, run: Insertable<WorkflowRunsTable>): Promise<WorkflowRunRow> {
  return db.insertInto('workflow_runs').values(run).returningAll().executeTakeFirstOrThrow();
}

function selectRuns(db: Db) {
  return db
    .selectFrom('workflow_runs as r')
    .innerJoin('workspaces as w', 'w.id', 'r.workspace_id')
    .leftJoin('users as u', 'u.id', 'r.created_by')
    .selectAll('r')
    .select(['w.name as workspace_name', 'u.username as creator']);
}

export function findRun(db: Db, id: number): Promise<RunWithNames | undefined> {
  return selectRuns(db).where('r.id', '=', id).executeTakeFirst();
}

export async function listRunsInWorkspace(
  db: Db,
  workspaceId: number,
  filter: {
    status?: string | undefined;
    template?: string | undefined;
    limit: number;
    offset: number;
  },
): Promise<{ rows: RunWithNames[]; total: number }> {
  let query = selectRuns(db).where('r.workspace_id', '=', workspaceId);
  if (filter.status !== undefined) {
    query = query.where('r.status', '=', filter.status as WorkflowRunRow['status']);
  }
  if (filter.template !== undefined) {
    query = query.where('r.template_name', '=', filter.template);
  }
  const [rows, count] = await Promise.all([
    query.orderBy('r.id', 'desc').limit(filter.limit).offset(filter.offset).execute(),
    query
      .clearSelect()
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow(),
  ]);
  return { rows, total: count.n };
}

/** A run's child run of a workflow, if it has one. */
export async function findChildRun(
  db: Db,
  parentId: number,
  workflow: string,
): Promise<number | undefined> {
  const row = await db
    .selectFrom('workflow_runs')
    .select('id')
    .where('parent_run_id', '=', parentId)
    .where('workflow', '=', workflow)
    .executeTakeFirst();
  return row?.id;
}

/** Locks a run's row, or `undefined` when another transaction holds it (or it is gone). */
export function lockRunUnlessBusy(db: Db, id: number): Promise<WorkflowRunRow | undefined> {
  return db
    .selectFrom('workflow_runs')
    .selectAll()
    .where('id', '=', id)
    .forUpdate()
    .skipLocked()
    .executeTakeFirst();
}

/** Locks a run's row, waiting for it. */
export function lockRun(db: Db, id: number): Promise<WorkflowRunRow | undefined> {
  return db
    .selectFrom('workflow_runs')
    .selectAll()
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
}

export async function updateRun(
  db: Db,
  id: number,
  values: UpdateObject<Database, 'workflow_runs'>,
): Promise<void> {
  await db.updateTable('workflow_runs').set(values).where('id', '=', id).execute();
}

/** The still-running runs of a workspace with a supersede key, but `exceptId`. */
export async function listRunningWithKey(
  db: Db,
  workspaceId: number,
  key: string,
  exceptId: number,
): Promise<number[]> {
  const rows = await db
    .selectFrom('workflow_runs')
    .select('id')
    .where('workspace_id', '=', workspaceId)
    .where('supersede_key', '=', key)
    .where('status', '=', 'running')
    .where('id', '<>', exceptId)
    .orderBy('id')
    .execute();
  return rows.map((r) => r.id);
}

/** A run's tasks in id order, with their dependencies. */
export function listRunTasks(db: Db, runId: number) {
  return db
    .selectFrom('tasks')
    .select([
      'id',
      'run_step as step',
      'type',
      'state',
      'result',
      'reason',
      'message',
      'output',
      'run_retries as retries',
      'architecture',
      'host_architecture',
      'started_at',
      'completed_at',
      sql<
        number[]
      >`array(select depends_on from task_dependencies d where d.task_id = tasks.id order by depends_on)`.as(
        'depends_on',
      ),
    ])
    .where('run_id', '=', runId)
    .orderBy('id')
    .execute();
}
export type RunTaskRow = Awaited<ReturnType<typeof listRunTasks>>[number];

/** Takes the wake-ups of a run: the engine looks at the run now. */
export async function takeWakeups(db: Db, runId: number): Promise<number> {
  const rows = await db
    .deleteFrom('workflow_run_wakeups')
    .where('run_id', '=', runId)
    .returning('id')
    .execute();
  return rows.length;
}

/** Runs with wake-ups waiting, oldest first. */
export async function listWokenRuns(db: Db, limit: number): Promise<number[]> {
  const rows = await db
    .selectFrom('workflow_run_wakeups')
    .select('run_id')
    .groupBy('run_id')
    .orderBy(sql`min(id)`)
    .limit(limit)
    .execute();
  return rows.map((r) => r.run_id);
}

export async function insertWakeup(db: Db, runId: number): Promise<void> {
  await db.insertInto('workflow_run_wakeups').values({ run_id: runId }).execute();
  await sql`select pg_notify(${runWakeupChannel}, ${String(runId)})`.execute(db);
}

/** Records an event and announces it on the event channel (at commit). */
export async function insertEvent(
  db: Db,
  event: { run_id: number; kind: WorkflowEventRow['kind']; task_id?: number | null; data: object },
): Promise<void> {
  const row = await db
    .insertInto('workflow_events')
    .values({ ...event, data: JSON.stringify(event.data) })
    .returning('id')
    .executeTakeFirstOrThrow();
  await sql`select pg_notify(${workflowEventChannel}, ${String(row.id)})`.execute(db);
  if (event.kind !== 'task-ended') {
    await enqueueRunEvent(db, event.run_id, runWebhookEvents[event.kind], event.data);
  }
}

export type EventWithNames = WorkflowEventRow & { readonly workspace_name: string };

function selectEvents(db: Db) {
  return db
    .selectFrom('workflow_events as e')
    .innerJoin('workflow_runs as r', 'r.id', 'e.run_id')
    .innerJoin('workspaces as w', 'w.id', 'r.workspace_id')
    .selectAll('e')
    .select('w.name as workspace_name');
}

export function findEvent(db: Db, id: number): Promise<EventWithNames | undefined> {
  return selectEvents(db).where('e.id', '=', id).executeTakeFirst();
}

/** Events after `afterId` in id order (all runs, or one). */
export function listEventsAfter(
  db: Db,
  afterId: number,
  limit: number,
  runId?: number,
): Promise<EventWithNames[]> {
  let query = selectEvents(db).where('e.id', '>', afterId);
  if (runId !== undefined) {
    query = query.where('e.run_id', '=', runId);
  }
  return query.orderBy('e.id').limit(limit).execute();
}

/** Deletes finished runs past their expiry; returns how many. */
export async function deleteExpiredRuns(db: Db, limit: number): Promise<number> {
  const rows = await db
    .deleteFrom('workflow_runs')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('workflow_runs')
        .select('id')
        .where('expires_at', '<', sql<Date>`now()`)
        .where('status', '<>', 'running')
        .limit(limit),
    )
    .returning('id')
    .execute();
  return rows.length;
}
