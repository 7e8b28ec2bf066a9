import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** The tables of migration 0010 (triggers and notifications); see `schema.ts`. */
export interface TriggerTables {
  triggers: TriggersTable;
  trigger_deliveries: TriggerDeliveriesTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
}

type CreatedAt = ColumnType<Date, Date | undefined, never>;

export type TriggerKind = 'github' | 'gitlab' | 'gitea' | 'forgejo' | 'git';

export interface TriggersTable {
  id: Generated<number>;
  workspace_id: number;
  name: string;
  kind: TriggerKind;
  template: string;
  refs: string[];
  repository_url: string | null;
  command: string | null;
  secret_sealed: string;
  created_by: number | null;
  created_at: CreatedAt;
}

export type TriggerDeliveryOutcome = 'received' | 'started' | 'ignored' | 'failed';

export interface TriggerDeliveriesTable {
  id: Generated<number>;
  trigger_id: number;
  delivery_id: string;
  payload_sha256: string | null;
  event: string;
  outcome: ColumnType<TriggerDeliveryOutcome, TriggerDeliveryOutcome | undefined>;
  message: string | null;
  received_at: CreatedAt;
}

export interface WebhooksTable {
  id: Generated<number>;
  workspace_id: number;
  url: string;
  events: string[];
  secret_sealed: string;
  created_by: number | null;
  created_at: CreatedAt;
}

export type WebhookDeliveryState = 'pending' | 'delivered' | 'failed';

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  webhook_id: number;
  event: string;
  payload: ColumnType<Record<string, unknown>, string, string>;
  state: ColumnType<WebhookDeliveryState, WebhookDeliveryState | undefined>;
  attempts: Generated<number>;
  next_attempt_at: ColumnType<Date, Date | undefined>;
  created_at: CreatedAt;
  completed_at: Date | null;
}

export interface WebhookAttemptsTable {
  delivery_id: number;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  attempted_at: CreatedAt;
}

export type TriggerRow = Selectable<TriggersTable>;
export type NewTrigger = Insertable<TriggersTable>;
export type TriggerDeliveryRow = Selectable<TriggerDeliveriesTable>;
export type WebhookRow = Selectable<WebhooksTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;
