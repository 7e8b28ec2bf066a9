import { Type } from 'typebox';
import { parseDeb822 } from '../../../debian/deb822.ts';
import { KilnError } from '../../../protocol/errors.ts';
import { defineWorkflow, type WorkflowContext } from '../workflow-types.ts';
import {
  binaryBuilds,
  findTarget,
  nextBinNmuSuffix,
  submitBinarySteps,
  submitPublishStep,
  TargetParameters,
  type Target,
} from './debian-steps.ts';
import { listPublishedSources, type PublishedSource } from './published.repository.ts';

const PackageName = Type.String({ pattern: '^[a-z0-9][a-z0-9.+-]*$' });

export const BinNmuParameters = Type.Object(
  {
    ...TargetParameters,
    /** The published source package to rebuild. */
    package: PackageName,
    /** The BinNMU number (`+b<suffix>`); default: one more than the suite has. */
    suffix: Type.Optional(Type.Integer({ minimum: 1, maximum: 999 })),
    changelog: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
  },
  { additionalProperties: false },
);

/** Finds a published source with the artifact of its .dsc, or refuses the parameters. */
export async function findPublishedSource(
  context: { db: WorkflowContext['db'] },
  suiteId: number,
  target: Target,
  name: string,
): Promise<PublishedSource & { artifactId: number }> {
  const [source] = await listPublishedSources(context.db, suiteId, name);
  if (source === undefined) {
    throw new KilnError(
      'invalid_workflow_parameters',
      `source package ${name} is not in ${target.repository}/${target.suite}`,
    );
  }
  if (source.artifactId === null) {
    throw new KilnError('invalid_workflow_parameters', `no artifact holds ${name}'s .dsc any more`);
  }
  return { ...source, artifactId: source.artifactId };
}

/**
 * Submits BinNMU builds of a published source (its architecture-dependent
 * packages only, as a BinNMU rebuilds) under `binary:<prefix>:<arch>`.
 */
export async function submitBinNmuSteps(
  context: WorkflowContext<unknown>,
  target: Target,
  suiteArchitectures: readonly string[],
  source: PublishedSource & { artifactId: number },
  binnmu: { suffix?: number | undefined; changelog: string },
  prefix?: string,
): Promise<void> {
  const architecture = parseDeb822(source.stanza)[0]?.get('Architecture') ?? 'any';
  const builds = binaryBuilds(architecture, suiteArchitectures, target.architectures)
    .filter((b) => b.archAny)
    .map((b) => ({ ...b, archAll: false }));
  await submitBinarySteps(context, target, source.artifactId, builds, {
    ...(prefix === undefined ? {} : { prefix }),
    extra: {
      binnmu: {
        suffix: binnmu.suffix ?? nextBinNmuSuffix(source.version, source.binaryVersions),
        changelog: binnmu.changelog,
      },
    },
  });
}

/**
 * `binnmu`: rebuilds a published source package on the chosen architectures
 * (default: all it builds for in the suite) with a BinNMU suffix, and
 * publishes the new binaries in the suite.
 */
export const binNmuWorkflow = defineWorkflow({
  name: 'binnmu',
  description: 'rebuild a published package with a BinNMU suffix and publish it',
  parameters: BinNmuParameters,
  async prepare(context, parameters) {
    const { repository, suite } = await findTarget(context.db, context.workspaceId, parameters);
    await findPublishedSource(context, suite.id, parameters, parameters.package);
    return { supersedeKey: `binnmu:${repository.id}:${parameters.suite}:${parameters.package}` };
  },
  async advance(context) {
    const parameters = context.parameters;
    const { repository, suite } = await findTarget(
      context.db,
      context.run.workspace_id,
      parameters,
    );
    if (![...context.steps.keys()].some((s) => s.startsWith('binary:'))) {
      const source = await findPublishedSource(context, suite.id, parameters, parameters.package);
      await submitBinNmuSteps(context, parameters, suite.architectures, source, {
        suffix: parameters.suffix,
        changelog: parameters.changelog ?? `Rebuild (kiln run ${context.run.id}).`,
      });
    }
    await submitPublishStep(context, parameters, repository.id, []);
  },
});
