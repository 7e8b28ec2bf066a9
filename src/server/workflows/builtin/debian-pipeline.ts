import { Type } from 'typebox';
import { KilnError } from '../../../protocol/errors.ts';
import { defineWorkflow } from '../workflow-types.ts';
import {
  binaryBuilds,
  findSourcePackage,
  findTarget,
  stepsNamed,
  submitBinarySteps,
  submitPublishStep,
  succeeded,
  TargetParameters,
} from './debian-steps.ts';

export const DebianPipelineParameters = Type.Object(
  {
    ...TargetParameters,
    /** A git repository and ref to build the source package from... */
    url: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
    ref: Type.Optional(Type.String({ minLength: 1, maxLength: 250, pattern: '^[^-\\s][^\\s]*$' })),
    subdir: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, pattern: '^[^/]' })),
    /** ...or an uploaded source package. */
    source_artifact: Type.Optional(Type.Integer({ minimum: 1 })),
    /** After publishing, rebuild the suite's packages that build-depend on this one. */
    rebuild_reverse_deps: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/**
 * `debian-pipeline`: a git URL and ref (or an uploaded source package) →
 * `debian:source` → one `debian:binary` per architecture (the package's
 * `Architecture` ∩ the suite's, cross where `cross` says) → `apt:include`
 * into the suite, which publishes. A new run for the same package and suite
 * supersedes a still-running older one.
 */
export const debianPipelineWorkflow = defineWorkflow({
  name: 'debian-pipeline',
  description: 'git or source package → source → binaries per architecture → repository suite',
  parameters: DebianPipelineParameters,
  async prepare(context, parameters) {
    const { repository } = await findTarget(context.db, context.workspaceId, parameters);
    const fromGit = parameters.url !== undefined;
    if (fromGit === (parameters.source_artifact !== undefined)) {
      throw new KilnError(
        'invalid_workflow_parameters',
        'give either url and ref, or source_artifact',
      );
    }
    if (fromGit && parameters.ref === undefined) {
      throw new KilnError(
        'invalid_workflow_parameters',
        'url needs a ref (a branch, tag or commit)',
      );
    }
    const key = `debian-pipeline:${repository.id}:${parameters.suite}`;
    if (parameters.source_artifact !== undefined) {
      const source = await findSourcePackage(
        context.db,
        context.workspaceId,
        parameters.source_artifact,
      );
      return { supersedeKey: `${key}:${source.name}`, artifactId: parameters.source_artifact };
    }
    return { supersedeKey: `${key}:${parameters.url ?? ''}#${parameters.subdir ?? ''}` };
  },
  async advance(context) {
    const parameters = context.parameters;
    const { repository, suite } = await findTarget(
      context.db,
      context.run.workspace_id,
      parameters,
    );
    let sourceArtifact = parameters.source_artifact;
    if (sourceArtifact === undefined) {
      await context.submit('source', {
        type: 'debian:source',
        input: {
          url: parameters.url,
          ref: parameters.ref,
          ...(parameters.subdir === undefined ? {} : { subdir: parameters.subdir }),
        },
      });
      const source = context.steps.get('source');
      const artifact = source?.output?.['artifact'];
      if (!succeeded(source) || typeof artifact !== 'number') {
        return;
      }
      sourceArtifact = artifact;
    }
    if (stepsNamed(context, 'binary:').length === 0) {
      const source = await findSourcePackage(context.db, context.run.workspace_id, sourceArtifact);
      const builds = binaryBuilds(
        source.architecture,
        suite.architectures,
        parameters.architectures,
      );
      await submitBinarySteps(context, parameters, sourceArtifact, builds);
    }
    await submitPublishStep(context, parameters, repository.id, [sourceArtifact]);
    if (parameters.rebuild_reverse_deps === true && succeeded(context.steps.get('publish'))) {
      await context.startChild('rebuild-reverse-deps', {
        repository: parameters.repository,
        suite: parameters.suite,
        ...(parameters.component === undefined ? {} : { component: parameters.component }),
        ...(parameters.distribution === undefined ? {} : { distribution: parameters.distribution }),
        ...(parameters.cross === undefined ? {} : { cross: parameters.cross }),
        ...(parameters.executor === undefined ? {} : { executor: parameters.executor }),
        package: (await findSourcePackage(context.db, context.run.workspace_id, sourceArtifact))
          .name,
      });
    }
  },
});
