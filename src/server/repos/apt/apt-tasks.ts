import { type TObject, type TProperties, Type } from 'typebox';
import { CopyBody, IncludeBody, RemoveBody } from '../../../protocol/repos.schema.ts';
import {
  defineTaskType,
  type ServerTaskContext,
  type ServerTaskOutcome,
  type TaskType,
} from '../../scheduler/task-types.ts';
import {
  addArchitecture,
  copyPackages,
  includeArtifacts,
  removePackage,
  snapshotSuite,
} from './operations.ts';
import { publishRepository, type PublisherDeps, type PublishOptions } from './publisher.ts';

const Repo = { repository: Type.Integer({ minimum: 1 }) };
/** A request body's schema with the repository's id added. */
function withRepository<P extends TProperties>(body: TObject<P>) {
  return Type.Object({ ...Repo, ...body.properties }, { additionalProperties: false });
}
const Word = Type.String({ pattern: '^[a-z0-9][a-z0-9.+-]{0,63}$' });

/** Changes a task's message lists one by one; past that many, it counts them (the log lists them all). */
const listedChanges = 10;

/** A task's message for the changes it made: each of a few, or how many of each kind. */
export function briefly(lines: readonly string[]): string {
  if (lines.length <= listedChanges) {
    return lines.join('\n');
  }
  const counts = new Map<string, number>();
  for (const line of lines) {
    const verb = line.slice(0, line.indexOf(' '));
    counts.set(verb, (counts.get(verb) ?? 0) + 1);
  }
  return `${[...counts].map(([verb, n]) => `${verb} ${n}`).join(', ')} packages (the log lists them)`;
}

/**
 * Repository changes are server-side tasks (ubuild: "repository-related tasks
 * run on the main node"): they queue like any task, run on a server replica,
 * publish when done, and leave a log. They are internal types: the repository
 * API submits them after checking the caller may change the repository.
 */
export function createAptTaskTypes(deps: PublisherDeps): TaskType[] {
  const publishAfter = async (
    context: ServerTaskContext,
    lines: readonly string[] | string,
    options: PublishOptions = {},
  ): Promise<ServerTaskOutcome> => {
    const published = await publishRepository(deps, context.input['repository'] as number, options);
    const summary = typeof lines === 'string' ? lines : lines.join('\n');
    await context.log(`${summary}\npublication ${published.number}: ${published.files} files\n`);
    return {
      result: 'success',
      output: { publication: published.number },
      message: typeof lines === 'string' ? lines : briefly(lines),
    };
  };
  return [
    defineTaskType({
      name: 'apt:include',
      runsOn: 'server',
      internal: true,
      input: withRepository(IncludeBody),
      baseScore: 200,
      timeLimit: 3600,
      inputArtifacts: (input) => input.artifacts,
      async run(context) {
        const { repository, ...request } = context.input as unknown as IncludeBody & {
          repository: number;
        };
        const result = await includeArtifacts(deps, repository, request);
        const lines = [
          ...result.added.map((p) => `added ${p}`),
          ...result.replaced.map((p) => `replaced ${p}`),
        ];
        return publishAfter(context, lines.length === 0 ? 'nothing new' : lines, {
          prebuilt: result.prebuilt,
        });
      },
    }),
    defineTaskType({
      name: 'apt:remove',
      runsOn: 'server',
      internal: true,
      input: withRepository(RemoveBody),
      baseScore: 200,
      timeLimit: 3600,
      async run(context) {
        const { repository, ...request } = context.input as unknown as RemoveBody & {
          repository: number;
        };
        const removed = await removePackage(deps, repository, request);
        return publishAfter(
          context,
          removed.map((p) => `removed ${p}`),
        );
      },
    }),
    defineTaskType({
      name: 'apt:copy',
      runsOn: 'server',
      internal: true,
      input: withRepository(CopyBody),
      baseScore: 200,
      timeLimit: 3600,
      async run(context) {
        const { repository, ...request } = context.input as unknown as CopyBody & {
          repository: number;
        };
        const copied = await copyPackages(deps, repository, request);
        return publishAfter(
          context,
          `copied ${copied} packages from ${request.from} to ${request.to}`,
        );
      },
    }),
    defineTaskType({
      name: 'apt:snapshot',
      runsOn: 'server',
      internal: true,
      input: Type.Object({ ...Repo, suite: Word, name: Word }, { additionalProperties: false }),
      baseScore: 200,
      timeLimit: 3600,
      async run(context) {
        const input = context.input as { repository: number; suite: string; name: string };
        const copied = await snapshotSuite(deps, input.repository, input);
        return publishAfter(
          context,
          `suite ${input.name}: a snapshot of ${input.suite} (${copied} packages)`,
        );
      },
    }),
    defineTaskType({
      name: 'apt:add-architecture',
      runsOn: 'server',
      internal: true,
      input: Type.Object(
        { ...Repo, suite: Word, architecture: Word },
        { additionalProperties: false },
      ),
      baseScore: 200,
      timeLimit: 3600,
      async run(context) {
        const input = context.input as { repository: number; suite: string; architecture: string };
        await addArchitecture(deps, input.repository, input);
        return publishAfter(context, `suite ${input.suite} now has ${input.architecture}`);
      },
    }),
    defineTaskType({
      name: 'apt:publish',
      runsOn: 'server',
      internal: true,
      input: Type.Object(Repo, { additionalProperties: false }),
      baseScore: 200,
      timeLimit: 3600,
      run: (context) => publishAfter(context, 'published'),
    }),
    defineTaskType({
      name: 'apt:rollback',
      runsOn: 'server',
      internal: true,
      input: Type.Object(
        { ...Repo, publication: Type.Integer({ minimum: 1 }) },
        { additionalProperties: false },
      ),
      baseScore: 200,
      timeLimit: 600,
      async run(context) {
        const input = context.input as { repository: number; publication: number };
        const published = await publishRepository(deps, input.repository, {
          from: input.publication,
        });
        const summary = `publication ${published.number} serves what publication ${input.publication} served`;
        await context.log(`${summary}\n`);
        return { result: 'success', output: { publication: published.number }, message: summary };
      },
    }),
  ];
}
