import type { Db } from '../db/connect.ts';
import type { UserRow } from '../db/schema.ts';
import type {
  NewTrigger,
  TriggerDeliveryOutcome,
  TriggerDeliveryRow,
  TriggerRow,
} from '../db/trigger-tables.ts';

export function insertTrigger(db: Db, trigger: NewTrigger): Promise<TriggerRow> {
  return db.insertInto('triggers').values(trigger).returningAll().executeTakeFirstOrThrow();
}

export function listTriggersOfWorkspace(db: Db, workspaceId: number): Promise<TriggerRow[]> {
  return db
    .selectFrom('triggers')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .orderBy('name')
    .execute();
}

export function findTriggerByName(
  db: Db,
  workspaceId: number,
  name: string,
): Promise<TriggerRow | undefined> {
  return db
    .selectFrom('triggers')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('name', '=', name)
    .executeTakeFirst();
}

export function findTriggerById(db: Db, id: number): Promise<TriggerRow | undefined> {
  return db.selectFrom('triggers').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function deleteTrigger(db: Db, id: number): Promise<void> {
  await db.deleteFrom('triggers').where('id', '=', id).execute();
}

/**
 * Records a delivery, unless one with the same delivery id or payload digest
 * reached this trigger before: then `undefined` (a replay). The unique
 * constraints decide, so two replicas given one delivery accept it once.
 */
export async function claimTriggerDelivery(
  db: Db,
  delivery: {
    readonly trigger_id: number;
    readonly delivery_id: string;
    readonly payload_sha256: string | null;
    readonly event: string;
  },
): Promise<number | undefined> {
  const row = await db
    .insertInto('trigger_deliveries')
    .values(delivery)
    .onConflict((oc) => oc.doNothing())
    .returning('id')
    .executeTakeFirst();
  return row?.id;
}

export async function recordDeliveryOutcome(
  db: Db,
  id: number,
  outcome: TriggerDeliveryOutcome,
  message: string,
): Promise<void> {
  await db
    .updateTable('trigger_deliveries')
    .set({ outcome, message })
    .where('id', '=', id)
    .execute();
}

/** Forgets a delivery that failed on kiln's side, so that the forge's retry is accepted. */
export async function deleteTriggerDelivery(db: Db, id: number): Promise<void> {
  await db.deleteFrom('trigger_deliveries').where('id', '=', id).execute();
}

/** A trigger's latest deliveries, newest first. */
export function listTriggerDeliveries(
  db: Db,
  triggerId: number,
  limit: number,
): Promise<TriggerDeliveryRow[]> {
  return db
    .selectFrom('trigger_deliveries')
    .selectAll()
    .where('trigger_id', '=', triggerId)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

/** Who a trigger acts as: its creator, with their instance role, and the workspace's name. */
export function findTriggerOwner(
  db: Db,
  trigger: TriggerRow,
): Promise<{ id: number; username: string; role: UserRow['role']; workspace: string } | undefined> {
  return db
    .selectFrom('users')
    .crossJoin('workspaces')
    .select(['users.id', 'users.username', 'users.role', 'workspaces.name as workspace'])
    .where('users.id', '=', trigger.created_by)
    .where('workspaces.id', '=', trigger.workspace_id)
    .executeTakeFirst();
}
