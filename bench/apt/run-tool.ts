import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createAptClient, type CheckRequest } from './apt-client.ts';
import type { Corpus } from './corpus.ts';
import type { GpgKey } from './gpg-key.ts';
import { median } from './rounds.ts';
import {
  ToolUnavailableError,
  type AptSource,
  type RepoLayout,
  type RepoTool,
  type StepUsage,
} from './tool.ts';

/** How one step went. */
export type StepOutcome =
  | {
      readonly kind: 'measured';
      readonly seconds: number;
      readonly peakRss: number;
      /** Each run's or each round's seconds, when `seconds` is the median of several. */
      readonly samples?: readonly number[];
    }
  | { readonly kind: 'timed out'; readonly seconds: number }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'skipped' };

export type StepName = 'full' | 'addOne' | 'republish';

/** One tool's run over one corpus. */
export type ToolRun =
  | { readonly name: string; readonly kind: 'unavailable'; readonly reason: string }
  | {
      readonly name: string;
      readonly kind: 'ran';
      readonly summary: string;
      readonly steps: Readonly<Record<StepName, StepOutcome>>;
      /** apt-get's check after each step that ran: a problem, or undefined when all was well. */
      readonly checks: readonly AptCheck[];
    };

export interface AptCheck {
  readonly step: StepName;
  readonly problem: string | undefined;
  /** Which round of the tool it was in (1-based), once rounds are merged. */
  readonly round?: number;
}

export interface RunOptions {
  readonly corpus: Corpus;
  readonly layout: RepoLayout;
  readonly key: GpgKey;
  /** A directory for this tool's repository and its apt client; removed after unless `keep`. */
  readonly dir: string;
  readonly keep: boolean;
  readonly stepTimeoutSeconds: number;
  /** Aborts the whole benchmark (Ctrl-C). */
  readonly signal: AbortSignal;
  readonly progress: (line: string) => void;
}

const checkTimeoutMs = 300_000;

export const stepLabels: Readonly<Record<StepName, string>> = {
  full: 'full ingest + publish',
  addOne: '+1 package',
  republish: 'no-change republish',
};

/**
 * Sets the tool up, runs its three steps, each within the time limit and
 * checked with a real `apt-get update` after, and cleans up. A step that
 * fails or runs out of time ends the run: the later ones are skipped.
 */
export async function runTool(tool: RepoTool, options: RunOptions): Promise<ToolRun> {
  const { corpus, layout, signal, progress } = options;
  const say = (line: string) => {
    progress(`${tool.name}: ${line}`);
  };
  await using cleanup = new AsyncDisposableStack();
  cleanup.defer(async () => {
    await tool.cleanup();
    if (!options.keep) {
      await rm(options.dir, { recursive: true, force: true });
    }
  });
  const repoDir = join(options.dir, 'repo');
  await mkdir(repoDir, { recursive: true });
  const checks: AptCheck[] = [];
  const steps: Record<StepName, StepOutcome> = {
    full: { kind: 'skipped' },
    addOne: { kind: 'skipped' },
    republish: { kind: 'skipped' },
  };
  let source: AptSource;
  try {
    source = await tool.setup({ dir: repoDir, layout, key: options.key, signal });
  } catch (error) {
    signal.throwIfAborted();
    if (error instanceof ToolUnavailableError) {
      say(`not available: ${error.message}`);
      return { name: tool.name, kind: 'unavailable', reason: error.message };
    }
    const message = `setup: ${error instanceof Error ? error.message : String(error)}`;
    say(message);
    steps.full = { kind: 'failed', message };
    return { name: tool.name, kind: 'ran', summary: tool.summary, steps, checks };
  }
  const apt = await createAptClient(join(options.dir, 'apt-client'), source, layout);
  for (const { name, steps: runs, check } of planSteps(tool, corpus)) {
    const outcome = await timeSteps(runs, options.stepTimeoutSeconds, signal);
    steps[name] = outcome;
    say(`${stepLabels[name]}: ${describeOutcome(outcome)}`);
    if (outcome.kind !== 'measured') {
      break;
    }
    const problem = await apt.check(
      check,
      AbortSignal.any([signal, AbortSignal.timeout(checkTimeoutMs)]),
    );
    say(`apt-get update and check: ${problem === undefined ? 'ok' : `FAILED: ${problem}`}`);
    checks.push({ step: name, problem });
  }
  return { name: tool.name, kind: 'ran', summary: tool.summary, steps, checks };
}

interface PlannedStep {
  readonly name: StepName;
  /** Run one after the other; the figure is their median. */
  readonly steps: readonly ((signal: AbortSignal) => Promise<StepUsage>)[];
  /** What apt must see after them. */
  readonly check: CheckRequest;
}

function planSteps(tool: RepoTool, corpus: Corpus): readonly PlannedStep[] {
  const withExtras = [...corpus.packages, ...corpus.extras];
  const debs = corpus.packages.map((p) => corpus.pathOf(p));
  return [
    {
      name: 'full',
      steps: [(signal) => tool.fullPublish(debs, signal)],
      check: {
        expected: corpus.packages,
        downloads: sample(corpus),
        install: corpus.packages.findLast((p) => p.depends !== '' && p.architecture === 'amd64'),
      },
    },
    {
      name: 'addOne',
      steps: corpus.extras.map(
        (extra) => (signal: AbortSignal) => tool.addOne(corpus.pathOf(extra), signal),
      ),
      check: { expected: withExtras, downloads: corpus.extras, install: corpus.extras.at(-1) },
    },
    {
      name: 'republish',
      steps: [(signal) => tool.republish(signal)],
      check: { expected: withExtras, downloads: [], install: undefined },
    },
  ];
}

/** Times each run in turn: the median of them, or the first that did not finish. */
async function timeSteps(
  runs: readonly ((signal: AbortSignal) => Promise<StepUsage>)[],
  timeoutSeconds: number,
  interrupt: AbortSignal,
): Promise<StepOutcome> {
  const measured: (StepOutcome & { kind: 'measured' })[] = [];
  for (const run of runs) {
    const outcome = await timeStep(run, timeoutSeconds, interrupt);
    if (outcome.kind !== 'measured') {
      return outcome;
    }
    measured.push(outcome);
  }
  if (measured.length === 1 && measured[0] !== undefined) {
    return measured[0];
  }
  const samples = measured.map((m) => m.seconds);
  return {
    kind: 'measured',
    seconds: median(samples),
    peakRss: Math.max(...measured.map((m) => m.peakRss)),
    samples,
  };
}

async function timeStep(
  step: (signal: AbortSignal) => Promise<StepUsage>,
  timeoutSeconds: number,
  interrupt: AbortSignal,
): Promise<StepOutcome> {
  // Dirty pages left by the corpus or the previous step would otherwise be written back during this one.
  await promisify(execFile)('sync');
  const timeout = AbortSignal.timeout(timeoutSeconds * 1000);
  const started = performance.now();
  try {
    const usage = await step(AbortSignal.any([interrupt, timeout]));
    return {
      kind: 'measured',
      seconds: (performance.now() - started) / 1000,
      peakRss: usage.peakRss,
    };
  } catch (error) {
    interrupt.throwIfAborted();
    if (timeout.aborted) {
      return { kind: 'timed out', seconds: timeoutSeconds };
    }
    return { kind: 'failed', message: error instanceof Error ? error.message : String(error) };
  }
}

/** One package of each architecture, to download. */
function sample(corpus: Corpus) {
  return (['amd64', 'arm64', 'all'] as const).flatMap((architecture) => {
    const found = corpus.packages.find((p) => p.architecture === architecture);
    return found === undefined ? [] : [found];
  });
}

export function describeOutcome(outcome: StepOutcome): string {
  switch (outcome.kind) {
    case 'measured':
      return (
        `${outcome.seconds.toFixed(2)} s` +
        (outcome.samples === undefined
          ? ''
          : ` (median of ${outcome.samples.map((s) => s.toFixed(2)).join(', ')})`) +
        `, peak RSS ${(outcome.peakRss / 1e6).toFixed(1)} MB`
      );
    case 'timed out':
      return `timed out after ${outcome.seconds} s`;
    case 'failed':
      return `failed: ${outcome.message}`;
    case 'skipped':
      return 'skipped';
  }
}
