import { Type } from 'typebox';
import { ErrorResponse } from '../../protocol/common.schema.ts';
import { CreatedToken } from '../../protocol/tokens.schema.ts';
import {
  Assignment,
  ClaimBody,
  CreateEnrolmentTokenBody,
  EnrolBody,
  EnrolResponse,
  HeartbeatResponse,
  UpdateWorkerBody,
  Worker,
  WorkerDynamic,
  WorkerName,
} from '../../protocol/workers.schema.ts';
import type { App } from '../http/types.ts';
import type { SchedulerDeps } from './scheduler.ts';
import {
  changeWorker,
  claimForWorker,
  createEnrolmentToken,
  enrolWorker,
  heartbeat,
  listWorkers,
  removeWorker,
} from './worker.service.ts';

const errors = { '4xx': ErrorResponse };
const tags = ['workers'];
const NameParams = Type.Object({ name: WorkerName });

export function registerWorkerRoutes(app: App, deps: SchedulerDeps): void {
  // A closing server ends its long polls at once (204: the worker asks again,
  // here after a restart or at another replica); otherwise closing would wait
  // for each to run out, up to a minute.
  const closing = new AbortController();
  app.addHook('preClose', async () => {
    closing.abort();
  });

  app.get(
    '/api/v1/workers',
    {
      schema: {
        tags,
        summary: 'The workers: capabilities, load, last heartbeat, current tasks',
        response: { 200: Type.Object({ items: Type.Array(Worker) }), ...errors },
      },
    },
    async (request) => ({ items: await listWorkers(deps, request.actor) }),
  );

  app.patch(
    '/api/v1/workers/:name',
    {
      schema: {
        tags,
        summary: 'Enable or disable a worker (admin)',
        params: NameParams,
        body: UpdateWorkerBody,
        response: { 200: Worker, ...errors },
      },
    },
    async (request) => changeWorker(deps, request.actor, request.params.name, request.body.enabled),
  );

  app.delete(
    '/api/v1/workers/:name',
    {
      schema: {
        tags,
        summary: 'Remove a worker; its tasks are requeued (admin)',
        params: NameParams,
      },
    },
    async (request, reply) => {
      await removeWorker(deps, request.actor, request.params.name);
      return reply.status(204).send();
    },
  );

  app.post(
    '/api/v1/workers/enrolment-tokens',
    {
      schema: {
        tags,
        summary: 'Create a token that workers enrol with (admin)',
        body: CreateEnrolmentTokenBody,
        response: { 201: CreatedToken, ...errors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await createEnrolmentToken(deps, request.actor, request.body)),
  );

  app.post(
    '/api/v1/workers/enrol',
    {
      schema: {
        tags: ['worker protocol'],
        summary: 'Enrol a worker (enrolment token); returns its own token',
        body: EnrolBody,
        response: { 200: EnrolResponse, ...errors },
      },
    },
    async (request) => enrolWorker(deps, request.actor, request.body),
  );

  app.post(
    '/api/v1/worker/heartbeat',
    {
      schema: {
        tags: ['worker protocol'],
        summary: 'Heartbeat (worker token): extends leases, says which tasks to stop',
        body: WorkerDynamic,
        response: { 200: HeartbeatResponse, ...errors },
      },
    },
    async (request) => heartbeat(deps, request.actor, request.body),
  );

  app.post(
    '/api/v1/worker/claim',
    {
      schema: {
        tags: ['worker protocol'],
        summary:
          'Long-poll for a task that fits this worker (worker token); 204 when none came. ' +
          "`completed` reports the worker's previous attempt first, as POST /tasks/{id}/complete would",
        body: ClaimBody,
        response: { 200: Assignment, 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const abort = new AbortController();
      // The response closing before it finished means the client went away.
      reply.raw.on('close', () => {
        abort.abort();
      });
      const assignment = await claimForWorker(
        deps,
        request.actor,
        request.body,
        AbortSignal.any([abort.signal, closing.signal]),
      );
      return assignment === undefined ? reply.status(204).send(null) : assignment;
    },
  );
}
