import { Type, type Static } from 'typebox';
import { Architecture, CompleteTaskBody, Tag } from './tasks.schema.ts';
import { Timestamp } from './common.schema.ts';

export const WorkerName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' });

/** What a worker declares once, at enrolment. */
export const WorkerStatic = Type.Object(
  {
    /** Architectures it runs natively. */
    architectures: Type.Array(Architecture, { minItems: 1, maxItems: 16, uniqueItems: true }),
    /** Architectures it can build for from its native one (cross toolchains installed). */
    cross_architectures: Type.Optional(
      Type.Array(Architecture, { maxItems: 64, uniqueItems: true }),
    ),
    executors: Type.Array(Type.String({ pattern: '^[a-z0-9-]{1,32}$' }), {
      minItems: 1,
      maxItems: 8,
    }),
    cores: Type.Integer({ minimum: 1 }),
    memory: Type.Integer({ minimum: 0 }),
    disk: Type.Integer({ minimum: 0 }),
    tags: Type.Optional(Type.Array(Tag, { maxItems: 64, uniqueItems: true })),
    version: Type.Optional(Type.String({ maxLength: 100 })),
  },
  { additionalProperties: false },
);
export type WorkerStatic = Static<typeof WorkerStatic>;

/** What a worker reports with each heartbeat. */
export const WorkerDynamic = Type.Object(
  {
    load: Type.Optional(Type.Number({ minimum: 0 })),
    free_disk: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Cross targets now installed (they change as build images are made). */
    cross_architectures: Type.Optional(
      Type.Array(Architecture, { maxItems: 64, uniqueItems: true }),
    ),
    /** The tasks it is running, with their attempts. */
    running: Type.Optional(
      Type.Array(Type.Object({ task: Type.Integer(), attempt: Type.Integer() }), { maxItems: 64 }),
    ),
  },
  { additionalProperties: false },
);
export type WorkerDynamic = Static<typeof WorkerDynamic>;

export const EnrolBody = Type.Object(
  { name: WorkerName, metadata: WorkerStatic },
  { additionalProperties: false },
);
export type EnrolBody = Static<typeof EnrolBody>;

export const Worker = Type.Object({
  name: Type.String(),
  enabled: Type.Boolean(),
  online: Type.Boolean(),
  architectures: Type.Array(Type.String()),
  cross_architectures: Type.Array(Type.String()),
  executors: Type.Array(Type.String()),
  cores: Type.Integer(),
  memory: Type.Integer(),
  disk: Type.Integer(),
  tags: Type.Array(Type.String()),
  version: Type.String(),
  load: Type.Union([Type.Number(), Type.Null()]),
  free_disk: Type.Union([Type.Integer(), Type.Null()]),
  enrolled_at: Timestamp,
  last_seen_at: Timestamp,
  /** The tasks it runs now (only those the caller may see). */
  running: Type.Array(Type.Integer()),
});
export type Worker = Static<typeof Worker>;

export const EnrolResponse = Type.Object({ worker: Worker, token: Type.String() });
export type EnrolResponse = Static<typeof EnrolResponse>;

export const HeartbeatResponse = Type.Object({
  /** Tasks the worker must stop now (cancelled, or no longer its own). */
  cancel: Type.Array(Type.Integer()),
  /** Seconds a lease lasts without a heartbeat; beat well within it. */
  lease_timeout: Type.Integer(),
});
export type HeartbeatResponse = Static<typeof HeartbeatResponse>;

/**
 * The result of an attempt this worker ran, given with its next claim: the
 * server records it before it looks for the next task, in the same request,
 * and answers at once (204) when no task is there rather than waiting. It is
 * the body of `POST /tasks/{id}/complete`, with the task and attempt.
 */
export const CompletedAttempt = Type.Object(
  {
    task: Type.Integer({ minimum: 1 }),
    attempt: Type.Integer({ minimum: 1 }),
    ...CompleteTaskBody.properties,
  },
  { additionalProperties: false },
);
export type CompletedAttempt = Static<typeof CompletedAttempt>;

export const ClaimBody = Type.Object(
  {
    wait: Type.Optional(Type.Number({ minimum: 0, maximum: 60 })),
    completed: Type.Optional(CompletedAttempt),
  },
  { additionalProperties: false },
);
export type ClaimBody = Static<typeof ClaimBody>;

/** A task as handed to the worker that claimed it. */
export const Assignment = Type.Object({
  task: Type.Integer(),
  attempt: Type.Integer(),
  type: Type.String(),
  workspace: Type.String(),
  input: Type.Record(Type.String(), Type.Unknown()),
  requirements: Type.Record(Type.String(), Type.Unknown()),
  time_limit: Type.Integer(),
  /** Reaches only this attempt's inputs and outputs. */
  token: Type.String(),
});
export type Assignment = Static<typeof Assignment>;

export const CreateEnrolmentTokenBody = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 200 })),
    expires_in: Type.Optional(Type.Integer({ minimum: 60, maximum: 10 * 365 * 86400 })),
  },
  { additionalProperties: false },
);

export const UpdateWorkerBody = Type.Object(
  { enabled: Type.Boolean() },
  { additionalProperties: false },
);
