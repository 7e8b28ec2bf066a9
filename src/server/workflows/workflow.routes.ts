import { Type } from 'typebox';
import { ErrorResponse, Page } from '../../protocol/common.schema.ts';
import {
  ListRunsQuery,
  RegisterTemplateBody,
  Run,
  RunEvent,
  RunParams,
  RunSummary,
  StartRunBody,
  TemplateParams,
  WorkflowTemplate,
  WorkflowType,
} from '../../protocol/workflows.schema.ts';
import { WorkspaceParams } from '../../protocol/workspaces.schema.ts';
import type { App } from '../http/types.ts';
import { listEventsAfter } from './workflow.repository.ts';
import { toRunEvent } from './run-view.ts';
import {
  authorizeRun,
  cancelRun,
  listRuns,
  listWorkflowTemplates,
  registerTemplate,
  removeTemplate,
  retryRun,
  showRun,
  startWorkflowRun,
  type WorkflowDeps,
} from './workflow.service.ts';

const errors = { '4xx': ErrorResponse };
const tags = ['workflows'];

export function registerWorkflowRoutes(app: App, deps: WorkflowDeps): void {
  app.get(
    '/api/v1/workflows',
    {
      schema: {
        tags,
        summary: 'The built-in workflows a template may name',
        response: { 200: Type.Array(WorkflowType) },
      },
    },
    async () => deps.workflows.list().map((w) => ({ name: w.name, description: w.description })),
  );

  app.post(
    '/api/v1/workspaces/:workspace/workflows',
    {
      schema: {
        tags,
        summary: 'Register a workflow template (owners)',
        params: WorkspaceParams,
        body: RegisterTemplateBody,
        response: { 201: WorkflowTemplate, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await registerTemplate(deps, request.actor, request.params.workspace, request.body)),
  );

  app.get(
    '/api/v1/workspaces/:workspace/workflows',
    {
      schema: {
        tags,
        summary: "A workspace's workflow templates",
        params: WorkspaceParams,
        response: { 200: Type.Array(WorkflowTemplate), ...errors },
      },
    },
    async (request) => listWorkflowTemplates(deps, request.actor, request.params.workspace),
  );

  app.delete(
    '/api/v1/workspaces/:workspace/workflows/:name',
    {
      schema: {
        tags,
        summary: 'Remove a workflow template (owners); its runs stay',
        params: TemplateParams,
      },
    },
    async (request, reply) => {
      await removeTemplate(deps, request.actor, request.params.workspace, request.params.name);
      return reply.status(204).send();
    },
  );

  app.post(
    '/api/v1/workspaces/:workspace/runs',
    {
      schema: {
        tags,
        summary: 'Start a run of a registered template',
        params: WorkspaceParams,
        body: StartRunBody,
        response: { 201: Run, ...errors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(
        await startWorkflowRun(deps, request.actor, {
          workspace: request.params.workspace,
          template: request.body.template,
          parameters: request.body.parameters,
          trigger: request.body.trigger ?? { kind: 'api' },
        }),
      ),
  );

  app.get(
    '/api/v1/workspaces/:workspace/runs',
    {
      schema: {
        tags,
        summary: "A workspace's runs, newest first",
        params: WorkspaceParams,
        querystring: ListRunsQuery,
        response: { 200: Page(RunSummary), ...errors },
      },
    },
    async (request) => listRuns(deps, request.actor, request.params.workspace, request.query),
  );

  app.get(
    '/api/v1/runs/:id',
    {
      schema: {
        tags,
        summary: 'A run with its tasks',
        params: RunParams,
        response: { 200: Run, ...errors },
      },
    },
    async (request) => showRun(deps, request.actor, request.params.id),
  );

  app.get(
    '/api/v1/runs/:id/events',
    {
      schema: {
        tags,
        summary: "A run's events after an event id, oldest first",
        params: RunParams,
        querystring: Type.Object({
          after: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
        }),
        response: { 200: Type.Array(RunEvent), ...errors },
      },
    },
    async (request) => {
      await authorizeRun(deps.db, request.actor, request.params.id, 'read');
      const rows = await listEventsAfter(
        deps.db,
        request.query.after ?? 0,
        request.query.limit ?? 100,
        request.params.id,
      );
      return rows.map(toRunEvent);
    },
  );

  app.post(
    '/api/v1/runs/:id/cancel',
    {
      schema: {
        tags,
        summary: 'Cancel a run',
        params: RunParams,
        response: { 200: Run, ...errors },
      },
    },
    async (request) => cancelRun(deps, request.actor, request.params.id),
  );

  app.post(
    '/api/v1/runs/:id/retry',
    {
      schema: {
        tags,
        summary: "Retry a run's failed tasks",
        params: RunParams,
        response: { 200: Run, ...errors },
      },
    },
    async (request) => retryRun(deps, request.actor, request.params.id),
  );
}
