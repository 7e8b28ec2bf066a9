import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorResponse } from '../../protocol/common.schema.ts';
import {
  CreatedTrigger,
  CreateTriggerBody,
  HookParams,
  HookResult,
  Trigger,
  TriggerDelivery,
  TriggerParams,
} from '../../protocol/triggers.schema.ts';
import { WorkspaceParams } from '../../protocol/workspaces.schema.ts';
import type { App } from '../http/types.ts';
import { receiveHookDelivery } from './hook-receiver.ts';
import {
  createTrigger,
  listDeliveriesOfTrigger,
  listTriggers,
  removeTrigger,
  showTrigger,
  type TriggerDeps,
} from './trigger.service.ts';

const errors = { '4xx': ErrorResponse };
const tags = ['triggers'];
const base = '/api/v1/workspaces/:workspace/triggers';

/** A delivery as the sender sent it: signatures are over these exact bytes. */
const maxDeliveryBytes = 25 * 1024 * 1024;

export function registerTriggerRoutes(app: App, deps: TriggerDeps): void {
  app.get(
    base,
    {
      schema: {
        tags,
        summary: "A workspace's triggers (forge webhooks and git hooks)",
        params: WorkspaceParams,
        response: { 200: Type.Object({ items: Type.Array(Trigger) }), ...errors },
      },
    },
    async (request) => ({
      items: await listTriggers(deps, request.actor, request.params.workspace),
    }),
  );

  app.post(
    base,
    {
      schema: {
        tags,
        summary: 'Create a trigger; its secret is in this answer only (owner)',
        params: WorkspaceParams,
        body: CreateTriggerBody,
        response: { 201: CreatedTrigger, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await createTrigger(deps, request.actor, request.params.workspace, request.body)),
  );

  app.get(
    `${base}/:trigger`,
    {
      schema: {
        tags,
        summary: 'A trigger',
        params: TriggerParams,
        response: { 200: Trigger, ...errors },
      },
    },
    async (request) =>
      showTrigger(deps, request.actor, request.params.workspace, request.params.trigger),
  );

  app.delete(
    `${base}/:trigger`,
    { schema: { tags, summary: 'Delete a trigger (owner)', params: TriggerParams } },
    async (request, reply) => {
      await removeTrigger(deps, request.actor, request.params.workspace, request.params.trigger);
      return reply.status(204).send();
    },
  );

  app.get(
    `${base}/:trigger/deliveries`,
    {
      schema: {
        tags,
        summary: "A trigger's latest 100 deliveries and what came of them (owner)",
        params: TriggerParams,
        response: { 200: Type.Object({ items: Type.Array(TriggerDelivery) }), ...errors },
      },
    },
    async (request) => ({
      items: await listDeliveriesOfTrigger(
        deps,
        request.actor,
        request.params.workspace,
        request.params.trigger,
      ),
    }),
  );

  // The receiving end, in a scope of its own that keeps bodies as bytes.
  void app.register(async (plugin) => {
    const scope = plugin.withTypeProvider<TypeBoxTypeProvider>();
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: maxDeliveryBytes },
      (_request, body, done) => {
        done(null, body);
      },
    );
    scope.post(
      '/api/v1/hooks/:id',
      {
        schema: {
          tags,
          summary:
            "Where a forge's webhook or a git hook delivers: checked against the trigger's secret",
          security: [],
          params: HookParams,
          response: {
            200: {
              description: 'The runs started, and why refs started none',
              content: {
                'application/json': { schema: HookResult },
                // What the git hook prints to the person pushing, a line each.
                'text/plain': { schema: Type.String() },
              },
            },
            ...errors,
          },
        },
      },
      async (request, reply) => {
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const result = await receiveHookDelivery(deps, request.params.id, request.headers, body);
        if (request.headers.accept === 'text/plain') {
          const lines = [
            ...result.runs.map((run) => `run ${run.id} started for ${run.ref}`),
            ...result.ignored,
          ];
          return reply.type('text/plain').send(lines.map((line) => `${line}\n`).join(''));
        }
        return result;
      },
    );
  });
}
