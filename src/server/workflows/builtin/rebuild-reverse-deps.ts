import { Type } from 'typebox';
import { parseDeb822 } from '../../../debian/deb822.ts';
import { defineWorkflow } from '../workflow-types.ts';
import { submitBinNmuSteps } from './binnmu.ts';
import { findTarget, submitPublishStep, TargetParameters } from './debian-steps.ts';
import { listBinaryNames, listPublishedSources } from './published.repository.ts';

export const RebuildReverseDepsParameters = Type.Object(
  {
    ...TargetParameters,
    /** The source package whose reverse build-dependencies are rebuilt. */
    package: Type.String({ pattern: '^[a-z0-9][a-z0-9.+-]*$' }),
  },
  { additionalProperties: false },
);

/** The package names a Build-Depends field names (alternatives included, qualifiers dropped). */
export function buildDependencyNames(field: string): string[] {
  return field
    .split(/[,|]/)
    .map((entry) => /^\s*([a-z0-9][a-z0-9.+-]*)/.exec(entry)?.[1])
    .filter((name): name is string => name !== undefined);
}

/**
 * `rebuild-reverse-deps`: after a package is published, rebuilds (as BinNMUs)
 * the suite's source packages that build-depend on one of its binaries, and
 * publishes them. Started by `debian-pipeline` runs whose template sets
 * `rebuild_reverse_deps` (it is opt-in), or from a template of its own.
 */
export const rebuildReverseDepsWorkflow = defineWorkflow({
  name: 'rebuild-reverse-deps',
  description: 'rebuild the packages that build-depend on a package, as BinNMUs',
  parameters: RebuildReverseDepsParameters,
  async prepare(context, parameters) {
    await findTarget(context.db, context.workspaceId, parameters);
    return {};
  },
  async advance(context) {
    const parameters = context.parameters;
    const { repository, suite } = await findTarget(
      context.db,
      context.run.workspace_id,
      parameters,
    );
    if (![...context.steps.keys()].some((s) => s.startsWith('binary:'))) {
      const provided = new Set([
        parameters.package,
        ...(await listBinaryNames(context.db, suite.id, parameters.package)),
      ]);
      for (const source of await listPublishedSources(context.db, suite.id)) {
        const stanza = parseDeb822(source.stanza)[0];
        const needs = ['Build-Depends', 'Build-Depends-Arch', 'Build-Depends-Indep'].flatMap((f) =>
          buildDependencyNames(stanza?.get(f) ?? ''),
        );
        if (
          source.package === parameters.package ||
          source.artifactId === null ||
          !needs.some((n) => provided.has(n))
        ) {
          continue;
        }
        await submitBinNmuSteps(
          context,
          parameters,
          suite.architectures,
          { ...source, artifactId: source.artifactId },
          { changelog: `Rebuild against ${parameters.package} (kiln run ${context.run.id}).` },
          source.package,
        );
      }
    }
    await submitPublishStep(context, parameters, repository.id, []);
  },
});
