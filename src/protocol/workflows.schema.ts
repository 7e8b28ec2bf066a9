import { Type, type Static } from 'typebox';
import { Id, Name, Timestamp } from './common.schema.ts';
import { taskResults, taskStates } from './tasks.schema.ts';

export const runStatuses = ['running', 'aborted', 'completed'] as const;
export type RunStatus = (typeof runStatuses)[number];

/** BuildIt's results, plus `neutral` for a run that had nothing to do or was stopped. */
export const runResults = ['success', 'failure', 'error', 'neutral'] as const;
export type RunResult = (typeof runResults)[number];

const TemplateName = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' });
const WorkflowName = Type.String({ pattern: '^[a-z0-9][a-z0-9:._-]{0,63}$' });
const Parameters = Type.Record(Type.String(), Type.Unknown());

export const RegisterTemplateBody = Type.Object(
  {
    name: TemplateName,
    /** A built-in workflow (`debian-pipeline`, `binnmu`, `rebuild-reverse-deps`, `pipeline`). */
    workflow: WorkflowName,
    /** Fixed parameters: a run may not change them. */
    parameters: Type.Optional(Parameters),
    /** Times a task that errored (the farm's fault, not the package's) is retried. */
    max_retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
  },
  { additionalProperties: false },
);
export type RegisterTemplateBody = Static<typeof RegisterTemplateBody>;

export const WorkflowTemplate = Type.Object({
  id: Type.Integer(),
  workspace: Name,
  name: TemplateName,
  workflow: WorkflowName,
  parameters: Parameters,
  max_retries: Type.Integer(),
  created_by: Type.Union([Type.String(), Type.Null()]),
  created_at: Timestamp,
});
export type WorkflowTemplate = Static<typeof WorkflowTemplate>;

export const TemplateParams = Type.Object({ workspace: Name, name: TemplateName });

/** What started a run: `cli`, `api`, `web`, `git-hook`, `webhook`, `workflow`, with details. */
export const RunTrigger = Type.Object(
  {
    kind: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$' }),
    details: Type.Optional(Parameters),
  },
  { additionalProperties: false },
);
export type RunTrigger = Static<typeof RunTrigger>;

export const StartRunBody = Type.Object(
  {
    template: TemplateName,
    /** Run-time parameters, merged with the template's fixed ones. */
    parameters: Type.Optional(Parameters),
    trigger: Type.Optional(RunTrigger),
  },
  { additionalProperties: false },
);
export type StartRunBody = Static<typeof StartRunBody>;

/** One task of a run: the step it is in the workflow, and where it stands. */
export const RunTask = Type.Object({
  id: Type.Integer(),
  step: Type.String(),
  type: Type.String(),
  state: Type.Enum(taskStates),
  result: Type.Union([Type.Enum(taskResults), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  message: Type.Union([Type.String(), Type.Null()]),
  depends_on: Type.Array(Type.Integer()),
  retries: Type.Integer(),
  architecture: Type.Union([Type.String(), Type.Null()]),
  started_at: Type.Union([Timestamp, Type.Null()]),
  completed_at: Type.Union([Timestamp, Type.Null()]),
});
export type RunTask = Static<typeof RunTask>;

export const RunSummary = Type.Object({
  id: Type.Integer(),
  workspace: Name,
  template: TemplateName,
  workflow: WorkflowName,
  status: Type.Enum(runStatuses),
  result: Type.Union([Type.Enum(runResults), Type.Null()]),
  message: Type.Union([Type.String(), Type.Null()]),
  trigger: RunTrigger,
  created_by: Type.Union([Type.String(), Type.Null()]),
  created_at: Timestamp,
  completed_at: Type.Union([Timestamp, Type.Null()]),
  expires_at: Type.Union([Timestamp, Type.Null()]),
  superseded_by: Type.Union([Type.Integer(), Type.Null()]),
  parent_run: Type.Union([Type.Integer(), Type.Null()]),
});
export type RunSummary = Static<typeof RunSummary>;

export const Run = Type.Object({
  ...RunSummary.properties,
  parameters: Parameters,
  artifact: Type.Union([Type.Integer(), Type.Null()]),
  tasks: Type.Array(RunTask),
  /** The tasks that did not succeed by their own fault or the farm's (not those they blocked). */
  failed_tasks: Type.Array(Type.Integer()),
});
export type Run = Static<typeof Run>;

export const ListRunsQuery = Type.Object({
  status: Type.Optional(Type.Enum(runStatuses)),
  template: Type.Optional(TemplateName),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
});
export type ListRunsQuery = Static<typeof ListRunsQuery>;

export const RunParams = Type.Object({ id: Id });

/** What happened to a run: it started or ended, or one of its tasks ended. */
export const RunEvent = Type.Object({
  id: Type.Integer(),
  run: Type.Integer(),
  workspace: Name,
  kind: Type.Enum(['run-started', 'run-ended', 'task-ended']),
  task: Type.Union([Type.Integer(), Type.Null()]),
  data: Parameters,
  created_at: Timestamp,
});
export type RunEvent = Static<typeof RunEvent>;

/** A built-in workflow a template may name. */
export const WorkflowType = Type.Object({
  name: WorkflowName,
  description: Type.String(),
});
export type WorkflowType = Static<typeof WorkflowType>;
