import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type { Logger } from 'pino';
import { Type } from 'typebox';
import { registerArtifactRoutes } from '../artifacts/artifact.routes.ts';
import { registerAuthRoutes } from '../auth/auth.routes.ts';
import { describeActor } from '../auth/actor.ts';
import { authenticateToken, readTokenFromHeader } from '../auth/authenticate.ts';
import type { Db } from '../db/connect.ts';
import type { FileStore } from '../files/file-store.ts';
import { registerWebhookRoutes } from '../notifications/webhook.routes.ts';
import type { WebhookDeps } from '../notifications/webhook.service.ts';
import { registerRepositoryRoutes } from '../repos/apt/repository.routes.ts';
import type { RepositoryDeps } from '../repos/apt/repository.service.ts';
import { registerRepositoryServing } from '../repos/apt/serve.routes.ts';
import type { LogFollowers } from '../scheduler/log-followers.ts';
import type { SchedulerDeps } from '../scheduler/scheduler.ts';
import { registerTaskRoutes } from '../scheduler/task.routes.ts';
import { registerWorkerRoutes } from '../scheduler/worker.routes.ts';
import { registerTriggerRoutes } from '../triggers/trigger.routes.ts';
import type { TriggerDeps } from '../triggers/trigger.service.ts';
import { registerWebRoutes } from '../web/web.routes.ts';
import { registerWorkflowRoutes } from '../workflows/workflow.routes.ts';
import type { WorkflowDeps } from '../workflows/workflow.service.ts';
import { registerWorkspaceRoutes } from '../workspaces/workspace.routes.ts';
import { installErrorHandlers } from './error-handler.ts';
import type { App } from './types.ts';

export interface AppDeps {
  readonly db: Db;
  readonly store: FileStore;
  readonly logger: Logger;
  readonly maxFileSize: number;
  readonly maxJsonSize: number;
  readonly version: string;
  readonly scheduler: SchedulerDeps;
  readonly logFollowers: LogFollowers;
  readonly repositories: RepositoryDeps;
  readonly triggers: TriggerDeps;
  readonly webhooks: WebhookDeps;
  readonly workflows: WorkflowDeps;
}

/** Builds the HTTP application: every route, with authentication and error mapping. */
export async function createApp(deps: AppDeps): Promise<App> {
  const logger: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: deps.maxJsonSize,
    // One line per request, written by the onResponse hook below, instead of two.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreTrailingSlash: true },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  installErrorHandlers(app);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'kiln', version: deps.version, description: 'The kiln build farm API' },
      components: {
        securitySchemes: { token: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ token: [] }],
    },
  });

  // Fastify wants a primitive here; the onRequest hook sets the real actor.
  app.decorateRequest('actor', null as never);
  app.addHook('onRequest', async (request) => {
    request.actor = await authenticateToken(
      deps.db,
      readTokenFromHeader(request.headers.authorization),
    );
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        actor: describeActor(request.actor),
      },
      'request',
    );
  });

  app.get(
    '/api/v1/health',
    {
      schema: {
        tags: ['meta'],
        summary: 'Liveness and version',
        response: { 200: Type.Object({ status: Type.Literal('ok'), version: Type.String() }) },
      },
    },
    async () => ({ status: 'ok' as const, version: deps.version }),
  );
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  registerAuthRoutes(app, deps.db);
  registerWorkspaceRoutes(app, deps.db);
  registerArtifactRoutes(app, { db: deps.db, store: deps.store, maxFileSize: deps.maxFileSize });
  registerTaskRoutes(app, deps.scheduler, deps.logFollowers);
  registerWorkerRoutes(app, deps.scheduler);
  registerRepositoryRoutes(app, deps.repositories);
  registerRepositoryServing(app, deps.repositories);
  registerTriggerRoutes(app, deps.triggers);
  registerWebhookRoutes(app, deps.webhooks);
  registerWorkflowRoutes(app, deps.workflows);
  await registerWebRoutes(app, {
    scheduler: deps.scheduler,
    logFollowers: deps.logFollowers,
    artifacts: { db: deps.db, store: deps.store, maxFileSize: deps.maxFileSize },
    repositories: deps.repositories,
    workflows: deps.workflows,
  });
  return app;
}
