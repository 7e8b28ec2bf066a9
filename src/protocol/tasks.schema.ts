import { Type, type Static } from 'typebox';
import { Id, Name, Timestamp } from './common.schema.ts';

export const taskStates = ['blocked', 'pending', 'running', 'completed', 'cancelled'] as const;
export type TaskState = (typeof taskStates)[number];

export const taskResults = ['success', 'failure', 'error'] as const;
export type TaskResult = (typeof taskResults)[number];

/** An architecture name as Debian spells it (`amd64`, `arm64`, `all`). */
export const Architecture = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$' });
export const Tag = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:=-]{0,63}$' });

/** What a worker must have to run a task. */
export const Requirements = Type.Object(
  {
    /** The architecture the task runs on (the build architecture). */
    architecture: Type.Optional(Architecture),
    /** The architecture the task builds for, when cross-building. */
    host_architecture: Type.Optional(Architecture),
    executor: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,32}$' })),
    /** Bytes of memory and of free disk the worker must have. */
    min_memory: Type.Optional(Type.Integer({ minimum: 0 })),
    min_disk: Type.Optional(Type.Integer({ minimum: 0 })),
    tags: Type.Optional(Type.Array(Tag, { maxItems: 32, uniqueItems: true })),
  },
  { additionalProperties: false },
);
export type Requirements = Static<typeof Requirements>;

export const SubmitTaskBody = Type.Object(
  {
    type: Type.String({ pattern: '^[a-z0-9][a-z0-9:._-]{0,99}$' }),
    input: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    requirements: Type.Optional(Requirements),
    /** Added to the type's base score; only admins may set it above 0. */
    priority: Type.Optional(Type.Integer({ minimum: -10000, maximum: 10000 })),
    depends_on: Type.Optional(Type.Array(Id, { maxItems: 1000, uniqueItems: true })),
    /**
     * Input fields that take an artifact id from a dependency's output (e.g.
     * `source_artifact` from a `debian:source` task's `artifact`), filled in when
     * that dependency succeeds; the artifact becomes one of the task's inputs.
     */
    bindings: Type.Optional(
      Type.Array(
        Type.Object(
          {
            field: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,63}$' }),
            task: Id,
            output: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,63}$' }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 32 },
      ),
    ),
    /** Seconds the task may run before it is stopped. */
    time_limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86400 })),
    /** Times the task is requeued after losing its worker before it errors. */
    max_lost_leases: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  },
  { additionalProperties: false },
);
export type SubmitTaskBody = Static<typeof SubmitTaskBody>;

export const TaskAttempt = Type.Object({
  attempt: Type.Integer(),
  worker: Type.String(),
  started_at: Timestamp,
  ended_at: Type.Union([Timestamp, Type.Null()]),
  outcome: Type.Union([Type.String(), Type.Null()]),
});

export const Task = Type.Object({
  id: Type.Integer(),
  workspace: Name,
  type: Type.String(),
  input: Type.Record(Type.String(), Type.Unknown()),
  runs_on: Type.Enum(['worker', 'server']),
  requirements: Requirements,
  score: Type.Integer(),
  priority: Type.Integer(),
  state: Type.Enum(taskStates),
  result: Type.Union([Type.Enum(taskResults), Type.Null()]),
  /** Why it ended as it did, as a stable code (`blocked-failed`, `timeout`, ...). */
  reason: Type.Union([Type.String(), Type.Null()]),
  message: Type.Union([Type.String(), Type.Null()]),
  output: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  depends_on: Type.Array(Type.Integer()),
  created_by: Type.Union([Type.String(), Type.Null()]),
  created_at: Timestamp,
  started_at: Type.Union([Timestamp, Type.Null()]),
  completed_at: Type.Union([Timestamp, Type.Null()]),
  time_limit: Type.Integer(),
  attempt: Type.Integer(),
  worker: Type.Union([Type.String(), Type.Null()]),
  cancel_requested: Type.Boolean(),
  log_artifact: Type.Union([Type.Integer(), Type.Null()]),
  attempts: Type.Array(TaskAttempt),
  inputs: Type.Array(Type.Integer()),
  outputs: Type.Array(Type.Integer()),
});
export type Task = Static<typeof Task>;

export const TaskSummary = Type.Omit(Task, ['input', 'output', 'attempts', 'inputs', 'outputs']);
export type TaskSummary = Static<typeof TaskSummary>;

export const ListTasksQuery = Type.Object({
  state: Type.Optional(Type.Enum(taskStates)),
  type: Type.Optional(Type.String({ maxLength: 100 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
});

/** One reason a task is not running, with a stable code. */
export const WhyReason = Type.Object({ code: Type.String(), message: Type.String() });
export const WhyResponse = Type.Object({
  task: Type.Integer(),
  state: Type.Enum(taskStates),
  reasons: Type.Array(WhyReason),
});
export type WhyResponse = Static<typeof WhyResponse>;

export const SetPriorityBody = Type.Object(
  { priority: Type.Integer({ minimum: -10000, maximum: 10000 }) },
  { additionalProperties: false },
);

export const CompleteTaskBody = Type.Object(
  {
    result: Type.Enum(taskResults),
    reason: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,64}$' })),
    message: Type.Optional(Type.String({ maxLength: 4000 })),
    output: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type CompleteTaskBody = Static<typeof CompleteTaskBody>;
