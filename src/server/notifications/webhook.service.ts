import { randomBytes } from 'node:crypto';
import { KilnError } from '../../protocol/errors.ts';
import type {
  CreatedWebhook,
  CreateWebhookBody,
  Webhook,
  WebhookDelivery,
  WebhookEvent,
} from '../../protocol/webhooks.schema.ts';
import { creatorUserId, type Actor } from '../auth/actor.ts';
import type { SecretBox } from '../auth/secret-box.ts';
import type { Db } from '../db/connect.ts';
import type { WebhookRow } from '../db/trigger-tables.ts';
import { authorizeWorkspace } from '../workspaces/access.ts';
import {
  deleteWebhook,
  findWebhook,
  insertWebhook,
  listDeliveriesOfWebhook,
  listWebhooksOfWorkspace,
} from './webhook.repository.ts';

export interface WebhookDeps {
  readonly db: Db;
  readonly secrets: SecretBox;
}

function toWebhook(workspace: string, row: WebhookRow): Webhook {
  return {
    id: row.id,
    workspace,
    url: row.url,
    events: row.events as WebhookEvent[],
    created_at: row.created_at.toISOString(),
  };
}

/**
 * Subscribes a URL to a workspace's events (owners: a webhook sends what
 * happens in the workspace outside it). The signing secret is made here and
 * returned once.
 */
export async function createWebhook(
  deps: WebhookDeps,
  actor: Actor,
  workspace: string,
  body: CreateWebhookBody,
): Promise<CreatedWebhook> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'own');
  const secret = `kiln_whsec_${randomBytes(32).toString('base64url')}`;
  const row = await insertWebhook(deps.db, {
    workspace_id: access.workspace.id,
    url: body.url,
    events: body.events,
    secret_sealed: deps.secrets.seal(secret),
    created_by: creatorUserId(actor) ?? null,
  });
  return { ...toWebhook(workspace, row), secret };
}

export async function listWebhooks(
  deps: WebhookDeps,
  actor: Actor,
  workspace: string,
): Promise<Webhook[]> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'own');
  return (await listWebhooksOfWorkspace(deps.db, access.workspace.id)).map((row) =>
    toWebhook(workspace, row),
  );
}

async function findOwnedWebhook(
  deps: WebhookDeps,
  actor: Actor,
  workspace: string,
  id: number,
): Promise<WebhookRow> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'own');
  const row = await findWebhook(deps.db, access.workspace.id, id);
  if (row === undefined) {
    throw new KilnError('not_found', `webhook ${id} not found in ${workspace}`);
  }
  return row;
}

export async function removeWebhook(
  deps: WebhookDeps,
  actor: Actor,
  workspace: string,
  id: number,
): Promise<void> {
  await deleteWebhook(deps.db, (await findOwnedWebhook(deps, actor, workspace, id)).id);
}

/** A webhook's latest 100 deliveries, newest first, with every attempt's status. */
export async function listWebhookDeliveries(
  deps: WebhookDeps,
  actor: Actor,
  workspace: string,
  id: number,
): Promise<WebhookDelivery[]> {
  const webhook = await findOwnedWebhook(deps, actor, workspace, id);
  const rows = await listDeliveriesOfWebhook(deps.db, webhook.id, 100);
  return rows.map(({ delivery, attempts }) => ({
    id: delivery.id,
    event: delivery.event,
    state: delivery.state,
    next_attempt_at: delivery.state === 'pending' ? delivery.next_attempt_at.toISOString() : null,
    created_at: delivery.created_at.toISOString(),
    completed_at: delivery.completed_at?.toISOString() ?? null,
    attempts: attempts.map((a) => ({
      attempt: a.attempt,
      status_code: a.status_code,
      error: a.error,
      duration_ms: a.duration_ms,
      attempted_at: a.attempted_at.toISOString(),
    })),
  }));
}
