import { Type } from 'typebox';
import { ErrorResponse } from '../../protocol/common.schema.ts';
import {
  CreatedWebhook,
  CreateWebhookBody,
  Webhook,
  WebhookDelivery,
  WebhookParams,
} from '../../protocol/webhooks.schema.ts';
import { WorkspaceParams } from '../../protocol/workspaces.schema.ts';
import type { App } from '../http/types.ts';
import {
  createWebhook,
  listWebhookDeliveries,
  listWebhooks,
  removeWebhook,
  type WebhookDeps,
} from './webhook.service.ts';

const errors = { '4xx': ErrorResponse };
const tags = ['webhooks'];
const base = '/api/v1/workspaces/:workspace/webhooks';

export function registerWebhookRoutes(app: App, deps: WebhookDeps): void {
  app.get(
    base,
    {
      schema: {
        tags,
        summary: "A workspace's outbound webhooks (owner)",
        params: WorkspaceParams,
        response: { 200: Type.Object({ items: Type.Array(Webhook) }), ...errors },
      },
    },
    async (request) => ({
      items: await listWebhooks(deps, request.actor, request.params.workspace),
    }),
  );

  app.post(
    base,
    {
      schema: {
        tags,
        summary:
          'Subscribe a URL to run and task events; its secret is in this answer only (owner)',
        params: WorkspaceParams,
        body: CreateWebhookBody,
        response: { 201: CreatedWebhook, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await createWebhook(deps, request.actor, request.params.workspace, request.body)),
  );

  app.delete(
    `${base}/:id`,
    { schema: { tags, summary: 'Delete a webhook (owner)', params: WebhookParams } },
    async (request, reply) => {
      await removeWebhook(deps, request.actor, request.params.workspace, request.params.id);
      return reply.status(204).send();
    },
  );

  app.get(
    `${base}/:id/deliveries`,
    {
      schema: {
        tags,
        summary: "A webhook's latest 100 deliveries, with each attempt's HTTP status (owner)",
        params: WebhookParams,
        response: { 200: Type.Object({ items: Type.Array(WebhookDelivery) }), ...errors },
      },
    },
    async (request) => ({
      items: await listWebhookDeliveries(
        deps,
        request.actor,
        request.params.workspace,
        request.params.id,
      ),
    }),
  );
}
