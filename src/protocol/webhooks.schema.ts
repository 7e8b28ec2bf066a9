import { Type, type Static } from 'typebox';
import { Id, Name, Timestamp } from './common.schema.ts';

/** The events a webhook may subscribe to. */
export const webhookEvents = ['task.ended', 'run.started', 'run.ended'] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

export const CreateWebhookBody = Type.Object(
  {
    url: Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 2000 }),
    events: Type.Array(Type.Enum(webhookEvents), { minItems: 1, uniqueItems: true }),
  },
  { additionalProperties: false },
);
export type CreateWebhookBody = Static<typeof CreateWebhookBody>;

export const Webhook = Type.Object({
  id: Type.Integer(),
  workspace: Name,
  url: Type.String(),
  events: Type.Array(Type.Enum(webhookEvents)),
  created_at: Timestamp,
});
export type Webhook = Static<typeof Webhook>;

/**
 * A webhook as created: `secret` keys the `X-Kiln-Signature` HMAC, shown this
 * once and never again.
 */
export const CreatedWebhook = Type.Intersect([Webhook, Type.Object({ secret: Type.String() })]);
export type CreatedWebhook = Static<typeof CreatedWebhook>;

export const WebhookParams = Type.Object({ workspace: Name, id: Id });

export const WebhookAttempt = Type.Object({
  attempt: Type.Integer(),
  /** The receiver's HTTP status; null when none came. */
  status_code: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  duration_ms: Type.Integer(),
  attempted_at: Timestamp,
});

export const WebhookDelivery = Type.Object({
  id: Type.Integer(),
  event: Type.String(),
  state: Type.Enum(['pending', 'delivered', 'failed']),
  /** When a pending delivery is next tried. */
  next_attempt_at: Type.Union([Timestamp, Type.Null()]),
  created_at: Timestamp,
  completed_at: Type.Union([Timestamp, Type.Null()]),
  attempts: Type.Array(WebhookAttempt),
});
export type WebhookDelivery = Static<typeof WebhookDelivery>;
