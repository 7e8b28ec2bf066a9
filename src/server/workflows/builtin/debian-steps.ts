import { Type } from 'typebox';
import { KilnError } from '../../../protocol/errors.ts';
import { findArtifact } from '../../artifacts/artifact.repository.ts';
import type { Db } from '../../db/connect.ts';
import { findRepository, findSuite } from '../../repos/apt/repository.repository.ts';
import type { StepTask, WorkflowContext } from '../workflow-types.ts';

export const Word = Type.String({ pattern: '^[a-z0-9][a-z0-9.+-]{0,63}$' });
export const Architecture = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,31}$' });

/** The parameters every Debian workflow has: where the packages go, and how they are built. */
export const TargetParameters = {
  /** A repository of the workspace, and one of its suites. */
  repository: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }),
  suite: Word,
  component: Type.Optional(Word),
  /** The distribution of the build environment (default: the suite's codename). */
  distribution: Type.Optional(Word),
  /** Build only these of the suite's architectures. */
  architectures: Type.Optional(
    Type.Array(Architecture, { minItems: 1, maxItems: 32, uniqueItems: true }),
  ),
  /** Cross builds: host architecture → the build architecture that builds it. */
  cross: Type.Optional(Type.Record(Architecture, Architecture, { additionalProperties: false })),
  executor: Type.Optional(Type.Enum(['unshare', 'host'])),
};

export interface Target {
  readonly repository: string;
  readonly suite: string;
  readonly component?: string | undefined;
  readonly distribution?: string | undefined;
  readonly architectures?: readonly string[] | undefined;
  readonly cross?: Readonly<Record<string, string>> | undefined;
  readonly executor?: 'unshare' | 'host' | undefined;
}

function refuse(message: string): never {
  throw new KilnError('invalid_workflow_parameters', message);
}

/** Finds the target repository and suite in the workspace, or refuses the parameters. */
export async function findTarget(db: Db, workspaceId: number, target: Target) {
  const repository = await findRepository(db, workspaceId, target.repository);
  if (repository === undefined) {
    refuse(`repository ${target.repository} not found in the workspace`);
  }
  const suite = await findSuite(db, repository.id, target.suite);
  if (suite === undefined) {
    refuse(`suite ${target.suite} not found in repository ${target.repository}`);
  }
  if (target.component !== undefined && !suite.components.includes(target.component)) {
    refuse(
      `suite ${target.suite} has no component ${target.component} (${suite.components.join(', ')})`,
    );
  }
  for (const architecture of target.architectures ?? []) {
    if (!suite.architectures.includes(architecture)) {
      refuse(
        `suite ${target.suite} has no architecture ${architecture} (${suite.architectures.join(', ')})`,
      );
    }
  }
  return { repository, suite };
}

/** A source package artifact of the workspace: its name and `Architecture` field. */
export async function findSourcePackage(db: Db, workspaceId: number, id: number) {
  const artifact = await findArtifact(db, id);
  if (artifact?.workspace_id !== workspaceId || artifact.type !== 'debian:source-package') {
    refuse(`artifact ${id} is not a debian:source-package of the workspace`);
  }
  const data = artifact.data as { name?: unknown; dsc_fields?: Record<string, unknown> };
  const architecture = data.dsc_fields?.['Architecture'];
  return {
    name: typeof data.name === 'string' ? data.name : `artifact-${id}`,
    architecture: typeof architecture === 'string' ? architecture : 'any',
  };
}

/** Whether a Debian architecture wildcard (`any`, `linux-any`, `any-arm64`) or name matches. */
function matches(pattern: string, architecture: string): boolean {
  return (
    pattern === 'any' ||
    pattern === architecture ||
    pattern === 'linux-any' ||
    pattern === `linux-${architecture}` ||
    pattern === `any-${architecture}`
  );
}

/** One binary build: the architecture it is for and what it builds. */
export interface BinaryBuild {
  readonly architecture: string;
  readonly archAny: boolean;
  readonly archAll: boolean;
}

/**
 * The binary builds of a source: the package's `Architecture` field ∩ the
 * suite's architectures (∩ the ones asked for); `all` packages are built once,
 * with amd64's build if there is one.
 */
export function binaryBuilds(
  sourceArchitecture: string,
  suiteArchitectures: readonly string[],
  wanted: readonly string[] | undefined,
): BinaryBuild[] {
  const patterns = sourceArchitecture.split(/\s+/).filter((p) => p !== '');
  const candidates = suiteArchitectures.filter(
    (a) => a !== 'all' && (wanted === undefined || wanted.includes(a)),
  );
  const anyArch = candidates.filter((a) => patterns.some((p) => p !== 'all' && matches(p, a)));
  const hasAll = patterns.includes('all') && candidates.length > 0;
  const allOn = !hasAll
    ? undefined
    : anyArch.includes('amd64')
      ? 'amd64'
      : (anyArch[0] ?? (candidates.includes('amd64') ? 'amd64' : candidates[0]));
  const architectures = [...new Set([...anyArch, ...(allOn === undefined ? [] : [allOn])])];
  return architectures.map((architecture) => ({
    architecture,
    archAny: anyArch.includes(architecture),
    archAll: architecture === allOn,
  }));
}

/**
 * Submits one `binary:<arch>` step (`binary:<prefix>:<arch>` with a prefix)
 * per build of a source artifact; `extra` goes into each input (a BinNMU).
 */
export async function submitBinarySteps(
  context: WorkflowContext<unknown>,
  target: Target,
  sourceArtifact: number,
  builds: readonly BinaryBuild[],
  options: { readonly prefix?: string; readonly extra?: Record<string, unknown> } = {},
): Promise<void> {
  const extra = options.extra ?? {};
  for (const build of builds) {
    const buildArchitecture = target.cross?.[build.architecture] ?? build.architecture;
    const step = `binary:${options.prefix === undefined ? '' : `${options.prefix}:`}${build.architecture}`;
    await context.submit(step, {
      type: 'debian:binary',
      input: {
        source_artifact: sourceArtifact,
        distribution: target.distribution ?? target.suite,
        build_architecture: buildArchitecture,
        host_architecture: build.architecture,
        arch_any: build.archAny,
        arch_all: build.archAll,
        ...(target.executor === undefined ? {} : { executor: target.executor }),
        ...extra,
      },
    });
  }
}

/** The next BinNMU suffix of a source version, after those its binaries have (`+b<n>`). */
export function nextBinNmuSuffix(sourceVersion: string, binaryVersions: readonly string[]): number {
  const prefix = `${sourceVersion}+b`;
  const used = binaryVersions
    .filter((v) => v.startsWith(prefix) && /^\d+$/.test(v.slice(prefix.length)))
    .map((v) => Number(v.slice(prefix.length)));
  return Math.max(0, ...used) + 1;
}

/** The steps whose names start with `prefix`. */
export function stepsNamed(context: WorkflowContext<unknown>, prefix: string): StepTask[] {
  return [...context.steps.values()].filter((s) => s.step.startsWith(prefix));
}

export function succeeded(step: StepTask | undefined): boolean {
  return step?.state === 'completed' && step.result === 'success';
}

export function ended(step: StepTask): boolean {
  return step.state === 'completed' || step.state === 'cancelled';
}

/**
 * Once every binary build has ended, adds what succeeded (and `extra`
 * artifacts, such as the source) to the suite and publishes, as one
 * `apt:include` step named `publish`. A failed architecture publishes nothing.
 */
export async function submitPublishStep(
  context: WorkflowContext<unknown>,
  target: Target,
  repositoryId: number,
  extra: readonly number[],
): Promise<void> {
  const binaries = stepsNamed(context, 'binary:');
  if (binaries.length === 0 || !binaries.every(ended)) {
    return;
  }
  const built = binaries.filter(succeeded).map((s) => s.output?.['binary_packages']);
  const artifacts = built.filter((id): id is number => typeof id === 'number');
  if (artifacts.length === 0) {
    return;
  }
  await context.submit('publish', {
    type: 'apt:include',
    input: {
      repository: repositoryId,
      suite: target.suite,
      ...(target.component === undefined ? {} : { component: target.component }),
      artifacts: [...new Set([...extra, ...artifacts])],
    },
  });
}
