import { sql, type Insertable } from 'kysely';
import type { Db } from '../db/connect.ts';
import type {
  WebhookAttemptRow,
  WebhookDeliveryRow,
  WebhookRow,
  WebhooksTable,
} from '../db/trigger-tables.ts';

/** Wakes the senders of every replica when deliveries are queued. */
export const webhookChannel = 'kiln_webhook_delivery';

export function insertWebhook(db: Db, webhook: Insertable<WebhooksTable>): Promise<WebhookRow> {
  return db.insertInto('webhooks').values(webhook).returningAll().executeTakeFirstOrThrow();
}

export function listWebhooksOfWorkspace(db: Db, workspaceId: number): Promise<WebhookRow[]> {
  return db
    .selectFrom('webhooks')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .orderBy('id')
    .execute();
}

export function findWebhook(
  db: Db,
  workspaceId: number,
  id: number,
): Promise<WebhookRow | undefined> {
  return db
    .selectFrom('webhooks')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function deleteWebhook(db: Db, id: number): Promise<void> {
  await db.deleteFrom('webhooks').where('id', '=', id).execute();
}

async function notifySenders(db: Db, queued: number): Promise<void> {
  if (queued > 0) {
    await sql`select pg_notify(${webhookChannel}, '')`.execute(db);
  }
}

/**
 * Queues `event` with `payload` for every webhook of the workspace that
 * subscribes to it, in the caller's transaction: the event and its
 * notifications commit together.
 */
export async function enqueueWebhookEvent(
  db: Db,
  workspaceId: number,
  event: string,
  payload: Record<string, unknown>,
): Promise<void> {
  const rows = await db
    .insertInto('webhook_deliveries')
    .columns(['webhook_id', 'event', 'payload'])
    .expression((eb) =>
      eb
        .selectFrom('webhooks')
        .select([
          'id',
          eb.val(event).as('event'),
          sql<string>`${JSON.stringify(payload)}::jsonb`.as('payload'),
        ])
        .where('workspace_id', '=', workspaceId)
        .where(sql<boolean>`${event} = any(events)`),
    )
    .returning('id')
    .execute();
  await notifySenders(db, rows.length);
}

/**
 * Queues `task.ended` for tasks that just ended, to the webhooks of their
 * workspaces that subscribe to it; the payload is read from the task rows in
 * the same statement, so a task end without subscribers costs one index probe.
 */
export async function enqueueTaskEndings(db: Db, taskIds: readonly number[]): Promise<void> {
  if (taskIds.length === 0) {
    return;
  }
  const rows = await db
    .insertInto('webhook_deliveries')
    .columns(['webhook_id', 'event', 'payload'])
    .expression((eb) =>
      eb
        .selectFrom('tasks')
        .innerJoin('webhooks', 'webhooks.workspace_id', 'tasks.workspace_id')
        .innerJoin('workspaces', 'workspaces.id', 'tasks.workspace_id')
        .select([
          'webhooks.id',
          eb.val('task.ended').as('event'),
          sql<string>`jsonb_build_object(
            'event', 'task.ended',
            'workspace', workspaces.name,
            'task', jsonb_build_object(
              'id', tasks.id, 'type', tasks.type, 'state', tasks.state,
              'result', tasks.result, 'reason', tasks.reason, 'message', tasks.message,
              'completed_at', tasks.completed_at))`.as('payload'),
        ])
        .where('tasks.id', 'in', taskIds)
        .where(sql<boolean>`'task.ended' = any(webhooks.events)`),
    )
    .returning('id')
    .execute();
  await notifySenders(db, rows.length);
}

/** The webhook event of each run event the workflow engine records. */
export const runWebhookEvents = { 'run-started': 'run.started', 'run-ended': 'run.ended' } as const;

/**
 * Queues `run.started` or `run.ended` for a run, to the webhooks of its
 * workspace that subscribe to it, in the caller's transaction (the one that
 * records the workflow event): the payload is the run as it is now, read in
 * the same statement, with the event's own `data`.
 */
export async function enqueueRunEvent(
  db: Db,
  runId: number,
  event: (typeof runWebhookEvents)[keyof typeof runWebhookEvents],
  data: object,
): Promise<void> {
  const rows = await db
    .insertInto('webhook_deliveries')
    .columns(['webhook_id', 'event', 'payload'])
    .expression((eb) =>
      eb
        .selectFrom('workflow_runs as r')
        .innerJoin('webhooks', 'webhooks.workspace_id', 'r.workspace_id')
        .innerJoin('workspaces', 'workspaces.id', 'r.workspace_id')
        .select([
          'webhooks.id',
          eb.val(event).as('event'),
          sql<string>`jsonb_build_object(
            'event', ${event}::text,
            'workspace', workspaces.name,
            'run', jsonb_build_object(
              'id', r.id, 'template', r.template_name, 'workflow', r.workflow,
              'status', r.status, 'result', r.result, 'message', r.message,
              'trigger', r.trigger, 'created_at', r.created_at,
              'completed_at', r.completed_at),
            'data', ${JSON.stringify(data)}::jsonb)`.as('payload'),
        ])
        .where('r.id', '=', runId)
        .where(sql<boolean>`${event} = any(webhooks.events)`),
    )
    .returning('id')
    .execute();
  await notifySenders(db, rows.length);
}

/** A due delivery, claimed: with its webhook's URL and sealed secret. */
export interface ClaimedDelivery {
  readonly id: number;
  readonly event: string;
  readonly payload: Record<string, unknown>;
  readonly attempts: number;
  readonly url: string;
  readonly secret_sealed: string;
}

/**
 * Claims up to `limit` due deliveries (`SKIP LOCKED`: replicas take different
 * ones) and counts the attempt; the claim holds for `leaseSeconds`, after
 * which a delivery whose sender died is due again.
 */
export async function claimDueDeliveries(
  db: Db,
  limit: number,
  leaseSeconds: number,
): Promise<ClaimedDelivery[]> {
  return db.transaction().execute(async (trx) => {
    const due = await trx
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('state', '=', 'pending')
      .where('next_attempt_at', '<=', sql<Date>`now()`)
      .orderBy('next_attempt_at')
      .limit(limit)
      .forUpdate()
      .skipLocked()
      .execute();
    if (due.length === 0) {
      return [];
    }
    return trx
      .updateTable('webhook_deliveries')
      .from('webhooks')
      .set({
        attempts: sql<number>`webhook_deliveries.attempts + 1`,
        next_attempt_at: sql<Date>`now() + make_interval(secs => ${leaseSeconds})`,
      })
      .whereRef('webhooks.id', '=', 'webhook_deliveries.webhook_id')
      .where(
        'webhook_deliveries.id',
        'in',
        due.map((row) => row.id),
      )
      .returning([
        'webhook_deliveries.id',
        'webhook_deliveries.event',
        'webhook_deliveries.payload',
        'webhook_deliveries.attempts',
        'webhooks.url',
        'webhooks.secret_sealed',
      ])
      .execute();
  });
}

/** What one attempt got: the receiver's status, or why there was none. */
export interface AttemptResult {
  readonly status_code: number | null;
  readonly error: string | null;
  readonly duration_ms: number;
}

/**
 * Records an attempt and its consequence: delivered, due again after
 * `retryInSeconds`, or failed for good (`retryInSeconds` undefined).
 */
export async function recordAttempt(
  db: Db,
  delivery: ClaimedDelivery,
  result: AttemptResult,
  outcome: 'delivered' | 'retry' | 'failed',
  retryInSeconds = 0,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('webhook_attempts')
      .values({ delivery_id: delivery.id, attempt: delivery.attempts, ...result })
      .onConflict((oc) => oc.doNothing())
      .execute();
    await trx
      .updateTable('webhook_deliveries')
      .set(
        outcome === 'retry'
          ? { next_attempt_at: sql<Date>`now() + make_interval(secs => ${retryInSeconds})` }
          : { state: outcome, completed_at: sql<Date>`now()` },
      )
      .where('id', '=', delivery.id)
      .where('state', '=', 'pending')
      .execute();
  });
}

/** A webhook's latest deliveries, newest first, each with its attempts. */
export async function listDeliveriesOfWebhook(
  db: Db,
  webhookId: number,
  limit: number,
): Promise<{ delivery: WebhookDeliveryRow; attempts: WebhookAttemptRow[] }[]> {
  const deliveries = await db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('webhook_id', '=', webhookId)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  const attempts =
    deliveries.length === 0
      ? []
      : await db
          .selectFrom('webhook_attempts')
          .selectAll()
          .where(
            'delivery_id',
            'in',
            deliveries.map((d) => d.id),
          )
          .orderBy('delivery_id')
          .orderBy('attempt')
          .execute();
  return deliveries.map((delivery) => ({
    delivery,
    attempts: attempts.filter((a) => a.delivery_id === delivery.id),
  }));
}
