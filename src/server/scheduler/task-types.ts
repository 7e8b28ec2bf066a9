import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { KilnError } from '../../protocol/errors.ts';
import type { Requirements } from '../../protocol/tasks.schema.ts';

/** What a server-side task gets to do its work. */
export interface ServerTaskContext {
  readonly taskId: number;
  readonly workspaceId: number;
  readonly input: Record<string, unknown>;
  readonly signal: AbortSignal;
  log(text: string): Promise<void>;
}

/** A server-side task's outcome: a result, never an exception, for the task's own failures. */
export interface ServerTaskOutcome {
  readonly result: 'success' | 'failure';
  readonly message?: string;
  readonly output?: Record<string, unknown>;
}

/**
 * A registered task type: where it runs, its input schema, its base score
 * (as Launchpad scores jobs by type), and for server-side types, the code.
 */
export interface TaskType<S extends TSchema = TSchema> {
  readonly name: string;
  readonly runsOn: 'worker' | 'server';
  readonly input: S;
  readonly baseScore: number;
  /** Default time limit in seconds. */
  readonly timeLimit: number;
  /**
   * Submitted only by kiln's own services (which check access to what the task
   * changes, e.g. a repository), never through the generic task API.
   */
  readonly internal?: boolean;
  /** The artifact type its saved log gets (default `task-log`). */
  readonly logArtifactType?: string;
  /** Requirements the input implies (merged under the submitter's). */
  requirements?(input: Static<S>): Requirements;
  /** Artifacts the task reads: its task token may download them. */
  inputArtifacts?(input: Static<S>): readonly number[];
  run?(context: ServerTaskContext): Promise<ServerTaskOutcome>;
}

/** The task types a server knows, by name. */
export interface TaskTypeRegistry {
  get(name: string): TaskType | undefined;
  names(): readonly string[];
  /** Validates `input` against the type's schema; throws `invalid_task_input`. */
  checkInput(type: TaskType, input: unknown): Record<string, unknown>;
}

export function createTaskTypeRegistry(types: readonly TaskType[]): TaskTypeRegistry {
  const byName = new Map(types.map((t) => [t.name, t]));
  const validators = new Map(types.map((t) => [t.name, Compile(t.input)]));
  return {
    get: (name) => byName.get(name),
    names: () =>
      types
        .filter((t) => t.internal !== true)
        .map((t) => t.name)
        .sort(),
    checkInput(type, input) {
      const validator = validators.get(type.name);
      if (validator === undefined || !validator.Check(input)) {
        const first = validator?.Errors(input)[0];
        const where = first === undefined ? '' : `${first.instancePath || '/'} ${first.message}`;
        throw new KilnError('invalid_task_input', `input of ${type.name} task: ${where}`.trim());
      }
      return input as Record<string, unknown>;
    },
  };
}

/** Defines a task type with its input schema typed. */
export function defineTaskType<S extends TSchema>(type: TaskType<S>): TaskType {
  return type;
}

const Empty = Type.Object({}, { additionalProperties: false });

/** `noop`: does nothing on a worker; the farm's smallest job (benchmarks, tests). */
export const noopTaskType = defineTaskType({
  name: 'noop',
  runsOn: 'worker',
  input: Type.Object(
    { result: Type.Optional(Type.Enum(['success', 'failure'])) },
    { additionalProperties: false },
  ),
  baseScore: 0,
  timeLimit: 60,
});

/** `server-noop`: does nothing on a server replica; proves server-side tasks share the queue. */
export const serverNoopTaskType = defineTaskType({
  name: 'server-noop',
  runsOn: 'server',
  input: Empty,
  baseScore: 100,
  timeLimit: 60,
  async run(context) {
    await context.log('server-noop: nothing to do\n');
    return { result: 'success' };
  },
});

/**
 * `shell`: runs a command on a worker in a fresh working directory, with the
 * input artifacts downloaded into `inputs/<id>/` and, when `outputs` is given,
 * the files left in `outputs/` uploaded as an artifact of that type.
 */
export const ShellInput = Type.Object(
  {
    command: Type.Union([
      Type.String({ minLength: 1, maxLength: 100000 }),
      Type.Array(Type.String({ maxLength: 100000 }), { minItems: 1, maxItems: 1000 }),
    ]),
    env: Type.Optional(
      // Without additionalProperties a key that misses the pattern is not checked at all.
      Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String(), {
        additionalProperties: false,
      }),
    ),
    inputs: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1 }), { maxItems: 100, uniqueItems: true }),
    ),
    outputs: Type.Optional(
      Type.Object(
        {
          type: Type.String({ pattern: '^[a-z0-9][a-z0-9:._-]{0,99}$' }),
          data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ShellInput = Static<typeof ShellInput>;

export const shellTaskType = defineTaskType({
  name: 'shell',
  runsOn: 'worker',
  input: ShellInput,
  baseScore: 0,
  timeLimit: 3600,
  inputArtifacts: (input) => input.inputs ?? [],
});

const Architecture = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$' });
const Distribution = Type.String({ pattern: '^[a-z0-9][a-z0-9.+-]{0,63}$' });

/** `debian:source`: a git repository at a ref → a `debian:source-package` artifact. */
export const DebianSourceInput = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2000 }),
    /** A branch, tag or commit. */
    ref: Type.String({ minLength: 1, maxLength: 250, pattern: '^[^-\\s][^\\s]*$' }),
    /** Where the package is in the repository, if not at its root. */
    subdir: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, pattern: '^[^/]' })),
  },
  { additionalProperties: false },
);

export const debianSourceTaskType = defineTaskType({
  name: 'debian:source',
  runsOn: 'worker',
  input: DebianSourceInput,
  // Sources feed every binary build of a package: they go first.
  baseScore: 50,
  timeLimit: 1800,
});

/** `debian:binary`: a source package → binary packages, native or cross, in a sandbox. */
export const DebianBinaryInput = Type.Object(
  {
    source_artifact: Type.Integer({ minimum: 1 }),
    distribution: Distribution,
    build_architecture: Architecture,
    host_architecture: Type.Optional(Architecture),
    arch_any: Type.Optional(Type.Boolean()),
    arch_all: Type.Optional(Type.Boolean()),
    profiles: Type.Optional(
      Type.Array(Type.String({ pattern: '^[a-z0-9][a-z0-9.+-]*$' }), { maxItems: 32 }),
    ),
    build_options: Type.Optional(Type.String({ maxLength: 1000 })),
    binnmu: Type.Optional(
      Type.Object(
        {
          suffix: Type.Integer({ minimum: 1, maximum: 999 }),
          changelog: Type.String({ minLength: 1, maxLength: 2000 }),
        },
        { additionalProperties: false },
      ),
    ),
    executor: Type.Optional(Type.Enum(['unshare', 'host'])),
  },
  { additionalProperties: false },
);

export const debianBinaryTaskType = defineTaskType({
  name: 'debian:binary',
  runsOn: 'worker',
  input: DebianBinaryInput,
  baseScore: 0,
  timeLimit: 4 * 3600,
  logArtifactType: 'build-log',
  requirements: (input) => ({
    architecture: input.build_architecture,
    ...(input.host_architecture === undefined ||
    input.host_architecture === input.build_architecture
      ? {}
      : { host_architecture: input.host_architecture }),
    executor: input.executor ?? 'unshare',
  }),
  inputArtifacts: (input) => [input.source_artifact],
});

/** The task types every kiln server has. */
export const builtinTaskTypes: readonly TaskType[] = [
  noopTaskType,
  serverNoopTaskType,
  shellTaskType,
  debianSourceTaskType,
  debianBinaryTaskType,
];
