/**
 * What `npm run bench:apt` asks of an APT repository tool: reprepro, aptly
 * and apt-ftparchive now, kiln later (one more file implementing RepoTool,
 * named in tools.ts).
 */
import type { Architecture } from './corpus-spec.ts';
import type { GpgKey } from './gpg-key.ts';

/** The one suite and component every tool publishes, for these architectures. */
export interface RepoLayout {
  readonly suite: string;
  readonly component: string;
  /** amd64, arm64 and all; a tool that cannot list `all` puts those packages in each binary architecture. */
  readonly architectures: readonly Architecture[];
}

export interface ToolWork {
  /** An empty directory the tool owns until cleanup; removed after. */
  readonly dir: string;
  readonly layout: RepoLayout;
  /** The key made for this run; a tool that holds keys of its own (kiln) may use those instead. */
  readonly key: GpgKey;
  readonly signal: AbortSignal;
}

/** Where apt finds what the tool published, and the key its Release files are signed with. */
export interface AptSource {
  /** A `file:` or `http:` URI of the repository's root (above `dists/`). */
  readonly uri: string;
  /** The public key file for `signed-by` (binary, or armored with a `.asc` name). */
  readonly signedBy: string;
}

/** What one step cost beyond its wall time, which the harness measures. */
export interface StepUsage {
  /** The peak RSS of the largest process that did the work, in bytes. */
  readonly peakRss: number;
}

/**
 * An APT repository tool, driven through one run: setup, then the three
 * steps in order, then cleanup (also after a failure or a timeout). Each step
 * returns once the repository is published and signed; its `signal` aborts
 * when the step runs out of time, and the step must then stop its processes.
 */
export interface RepoTool {
  readonly name: string;
  /** One line for the report: what the steps run, and what the tool does unlike the others. */
  readonly summary: string;
  /** Prepares an empty repository in `work.dir`; throws ToolUnavailableError if the tool is missing. */
  setup(work: ToolWork): Promise<AptSource>;
  /** Ingests every .deb (absolute paths) and publishes the suite. */
  fullPublish(debs: readonly string[], signal: AbortSignal): Promise<StepUsage>;
  /** Adds one more .deb and publishes again. */
  addOne(deb: string, signal: AbortSignal): Promise<StepUsage>;
  /** Publishes again with nothing changed. */
  republish(signal: AbortSignal): Promise<StepUsage>;
  /** Stops whatever the tool left running; the harness removes `work.dir`. */
  cleanup(): Promise<void>;
}

/** Thrown by `setup` when the tool is not installed: the report says so instead of failing. */
export class ToolUnavailableError extends Error {
  override readonly name = 'ToolUnavailableError';
}
