import { Type } from 'typebox';
import { ErrorResponse, IdParams, Page } from '../../protocol/common.schema.ts';
import {
  CompleteTaskBody,
  ListTasksQuery,
  SetPriorityBody,
  SubmitTaskBody,
  Task,
  TaskSummary,
  WhyResponse,
} from '../../protocol/tasks.schema.ts';
import { WorkspaceParams } from '../../protocol/workspaces.schema.ts';
import type { App } from '../http/types.ts';
import type { LogFollowers } from './log-followers.ts';
import { streamTaskLog } from './log-reader.ts';
import type { SchedulerDeps } from './scheduler.ts';
import { appendTaskLog, completeTask, releaseTask } from './task-work.service.ts';
import {
  cancelTask,
  listTasks,
  retryTask,
  setTaskPriority,
  showTask,
  submitTask,
} from './task.service.ts';
import { explainTask } from './why.ts';

const errors = { '4xx': ErrorResponse };
const tags = ['tasks'];
const Ack = Type.Object({ cancel: Type.Boolean() });

export function registerTaskRoutes(app: App, deps: SchedulerDeps, followers: LogFollowers): void {
  // A closing server breaks off the logs it streams to followers, instead of
  // waiting (maybe for hours) until their tasks end.
  const closing = new AbortController();
  app.addHook('preClose', async () => {
    closing.abort();
  });

  app.post(
    '/api/v1/workspaces/:workspace/tasks',
    {
      schema: {
        tags,
        summary: 'Submit a task of a registered type',
        params: WorkspaceParams,
        body: SubmitTaskBody,
        response: { 201: Task, ...errors },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await submitTask(deps, request.actor, request.params.workspace, request.body)),
  );

  app.get(
    '/api/v1/workspaces/:workspace/tasks',
    {
      schema: {
        tags,
        summary: "A workspace's tasks, newest first",
        params: WorkspaceParams,
        querystring: ListTasksQuery,
        response: { 200: Page(TaskSummary), ...errors },
      },
    },
    async (request) => listTasks(deps, request.actor, request.params.workspace, request.query),
  );

  app.get(
    '/api/v1/tasks/:id',
    { schema: { tags, summary: 'A task', params: IdParams, response: { 200: Task, ...errors } } },
    async (request) => showTask(deps, request.actor, request.params.id),
  );

  app.get(
    '/api/v1/tasks/:id/why',
    {
      schema: {
        tags,
        summary: 'Why a task is not running (or what it is doing)',
        params: IdParams,
        response: { 200: WhyResponse, ...errors },
      },
    },
    async (request) => explainTask(deps, request.actor, request.params.id),
  );

  app.post(
    '/api/v1/tasks/:id/cancel',
    {
      schema: {
        tags,
        summary: 'Cancel a task',
        params: IdParams,
        response: { 200: Task, ...errors },
      },
    },
    async (request) => cancelTask(deps, request.actor, request.params.id),
  );

  app.post(
    '/api/v1/tasks/:id/retry',
    {
      schema: {
        tags,
        summary: 'Retry a task',
        params: IdParams,
        response: { 200: Task, ...errors },
      },
    },
    async (request) => retryTask(deps, request.actor, request.params.id),
  );

  app.patch(
    '/api/v1/tasks/:id',
    {
      schema: {
        tags,
        summary: "Change a task's priority (admin)",
        params: IdParams,
        body: SetPriorityBody,
        response: { 200: Task, ...errors },
      },
    },
    async (request) =>
      setTaskPriority(deps, request.actor, request.params.id, request.body.priority),
  );

  app.get(
    '/api/v1/tasks/:id/log',
    {
      schema: {
        tags,
        summary:
          'The log: text, or followed live as server-sent events (Accept: text/event-stream)',
        params: IdParams,
        querystring: Type.Object({ follow: Type.Optional(Type.Boolean()) }),
      },
    },
    async (request, reply) => {
      const abort = new AbortController();
      // The response closing before it finished means the client went away.
      reply.raw.on('close', () => {
        abort.abort();
      });
      const sse = (request.headers.accept ?? '').includes('text/event-stream');
      const follow = sse || request.query.follow === true;
      // Check access before sending headers, so refusals are proper errors.
      let started = false;
      const start = () => {
        if (!started) {
          started = true;
          reply.hijack();
          reply.raw.writeHead(200, {
            'content-type': sse ? 'text/event-stream; charset=utf-8' : 'text/plain; charset=utf-8',
            'cache-control': 'no-store',
            'x-accel-buffering': 'no',
          });
        }
      };
      const write = async (text: string) => {
        start();
        const payload = sse ? `event: log\ndata: ${JSON.stringify(text)}\n\n` : text;
        if (!reply.raw.write(payload)) {
          await new Promise((resolve) => reply.raw.once('drain', resolve));
        }
      };
      await streamTaskLog(
        deps,
        followers,
        request.actor,
        request.params.id,
        { follow, signal: AbortSignal.any([abort.signal, closing.signal]) },
        write,
      );
      if (closing.signal.aborted) {
        // Broken off, not ended: the follower must not take it for the end of the log.
        reply.hijack();
        reply.raw.destroy();
        return reply;
      }
      start();
      if (sse) {
        reply.raw.write('event: end\ndata: {}\n\n');
      }
      reply.raw.end();
      return reply;
    },
  );

  app.post(
    '/api/v1/tasks/:id/log',
    {
      schema: {
        tags: ['worker protocol'],
        summary: "Append to the task's live log (task token)",
        params: IdParams,
        body: Type.String(),
        response: { 200: Ack, ...errors },
      },
    },
    async (request) => appendTaskLog(deps, request.actor, request.params.id, request.body),
  );

  app.post(
    '/api/v1/tasks/:id/complete',
    {
      schema: {
        tags: ['worker protocol'],
        summary: "Report the result of the task's attempt (task token)",
        params: IdParams,
        body: CompleteTaskBody,
      },
    },
    async (request, reply) => {
      await completeTask(deps, request.actor, request.params.id, request.body);
      return reply.status(204).send();
    },
  );

  app.post(
    '/api/v1/tasks/:id/release',
    {
      schema: {
        tags: ['worker protocol'],
        summary: 'Hand the task back to the queue (task token)',
        params: IdParams,
      },
    },
    async (request, reply) => {
      await releaseTask(deps, request.actor, request.params.id);
      return reply.status(204).send();
    },
  );
}
