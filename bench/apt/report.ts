import { addOneSamples } from './corpus-spec.ts';
import { describeFileSystemSpeed, type FileSystemSpeed } from './fs-probe.ts';
import { stepLabels, type StepName, type StepOutcome, type ToolRun } from './run-tool.ts';

const stepNames: readonly StepName[] = ['full', 'addOne', 'republish'];

/** Every tool's run over the corpus of one size. */
export interface SizeResults {
  readonly count: number;
  readonly runs: readonly ToolRun[];
  /** kiln's run, or undefined while kiln has no adapter. */
  readonly kiln: ToolRun | undefined;
  readonly stepTimeoutSeconds: number;
  /** How many times each tool ran; the figures are medians over these rounds. */
  readonly rounds: number;
  /** The file system's speed before the first round and after the last. */
  readonly fileSystem: readonly [before: FileSystemSpeed, after: FileSystemSpeed];
}

/** The +1 target by corpus size (APT-NOTES.md: 0.15 s at 20k, 0.5 s at 100k). */
export function addOneTarget(count: number): number {
  return count <= 20_000 ? 0.15 : 0.5;
}

const fullRatioTarget = 0.5;
const columns: readonly [string, number][] = [
  ['tool', 16],
  ['full s', 10],
  ['+1 s', 9],
  ['no-change s', 13],
  ['peak RSS MB', 13],
  ['   apt-get check', 0],
];

/** Prints the side-by-side table for one corpus size, and kiln against its targets. */
export function printSizeReport(results: SizeResults): void {
  const { count, runs, kiln, rounds } = results;
  const lines = [
    '',
    `APT repository publishing: ${count} packages (80 % amd64, 10 % arm64, 10 % all) into one`,
    'suite and component, signed, gz indices. Wall seconds, each step capped at ' +
      `${results.stepTimeoutSeconds} s;`,
    rounds === 1
      ? 'one round (--rounds N for medians of N);'
      : `medians of ${rounds} rounds, each a fresh repository, the tools taking turns in each round;`,
    `+1: the median of ${addOneSamples} packages added one after the other${rounds === 1 ? '' : ' (per round)'}. ` +
      'Peak RSS of the',
    `largest process of a step, the highest of the steps${rounds === 1 ? '' : ' and rounds'} (MB = 10^6 bytes).`,
    `File system before the rounds: ${describeFileSystemSpeed(results.fileSystem[0])}; after: ` +
      describeFileSystemSpeed(results.fileSystem[1]),
    "(the peers' pools take a directory and a file or link per package: their full steps follow these)",
    '',
    columns
      .map(([name, width], i) => (i === 0 ? name.padEnd(width) : name.padStart(width)))
      .join(''),
    ...[...runs, kiln].map((run, index) => row(run, index === runs.length ? 'kiln' : '?')),
    '',
    ...targetLines(results),
    '',
    ...notes(results),
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

function row(run: ToolRun | undefined, fallbackName: string): string {
  if (run === undefined) {
    return `${fallbackName.padEnd(16)}not yet measured (no adapter in bench/apt/tools.ts)`;
  }
  if (run.kind === 'unavailable') {
    return `${run.name.padEnd(16)}not installed`;
  }
  const peaks = Object.values(run.steps).flatMap((s) => (s.kind === 'measured' ? [s.peakRss] : []));
  return [
    run.name.padEnd(16),
    cell(run.steps.full).padStart(10),
    cell(run.steps.addOne).padStart(9),
    cell(run.steps.republish).padStart(13),
    (peaks.length === 0 ? '-' : (Math.max(...peaks) / 1e6).toFixed(1)).padStart(13),
    `   ${checkCell(run)}`,
  ].join('');
}

function checkCell(run: ToolRun & { kind: 'ran' }): string {
  if (run.checks.length === 0) {
    return '-';
  }
  const failed = run.checks.filter((c) => c.problem !== undefined).length;
  return failed === 0 ? `ok (${run.checks.length})` : `FAILED (${failed} of ${run.checks.length})`;
}

function cell(outcome: StepOutcome): string {
  switch (outcome.kind) {
    case 'measured':
      return outcome.seconds.toFixed(outcome.seconds < 10 ? 2 : 1);
    case 'timed out':
      return 'timeout';
    case 'failed':
      return 'failed';
    case 'skipped':
      return '-';
  }
}

function targetLines(results: SizeResults): string[] {
  const fastest = fastestPeer(results.runs);
  const addOne = addOneTarget(results.count);
  const fullLimit = fastest === undefined ? undefined : fastest.seconds * fullRatioTarget;
  const fullTarget =
    fastest === undefined
      ? `full ingest + publish <= ${fullRatioTarget} x fastest peer (no peer measured)`
      : `full ingest + publish <= ${fullRatioTarget} x fastest peer (${fastest.name} ${fastest.seconds.toFixed(2)} s) = ${fullLimit?.toFixed(2) ?? '?'} s`;
  const kilnSeconds = (step: StepName) => {
    const outcome = results.kiln?.kind === 'ran' ? results.kiln.steps[step] : undefined;
    return outcome?.kind === 'measured' ? outcome.seconds : undefined;
  };
  const verdict = (seconds: number | undefined, limit: number | undefined) => {
    if (results.kiln === undefined) {
      return 'not yet measured';
    }
    if (seconds === undefined || limit === undefined) {
      return 'MISS (no figure)';
    }
    return `${seconds <= limit ? 'PASS' : 'MISS'} (${seconds.toFixed(2)} s)`;
  };
  return [
    `targets for kiln at ${results.count} packages:`,
    `  ${`+1 package (include + publish + sign) <= ${addOne} s`.padEnd(80)}  ${verdict(kilnSeconds('addOne'), addOne)}`,
    `  ${fullTarget.padEnd(80)}  ${verdict(kilnSeconds('full'), fullLimit)}`,
  ];
}

function fastestPeer(runs: readonly ToolRun[]): { name: string; seconds: number } | undefined {
  let fastest: { name: string; seconds: number } | undefined;
  for (const run of runs) {
    const failedCheck = run.kind === 'ran' && run.checks.some((c) => c.problem !== undefined);
    if (run.kind !== 'ran' || failedCheck || run.steps.full.kind !== 'measured') {
      continue;
    }
    const seconds = run.steps.full.seconds;
    if (fastest === undefined || seconds < fastest.seconds) {
      fastest = { name: run.name, seconds };
    }
  }
  return fastest;
}

function notes(results: SizeResults): string[] {
  const lines = ['notes:'];
  for (const run of [...results.runs, ...(results.kiln === undefined ? [] : [results.kiln])]) {
    if (run.kind === 'unavailable') {
      lines.push(`  ${run.name}: ${run.reason}`);
      continue;
    }
    lines.push(...wrap(`${run.name}: ${run.summary}`, '  ', '      '));
    for (const step of stepNames) {
      const outcome = run.steps[step];
      if (outcome.kind === 'timed out') {
        lines.push(
          `    ${stepLabels[step]} timed out after ${outcome.seconds} s (the limit per step)`,
        );
      } else if (outcome.kind === 'failed') {
        lines.push(`    ${stepLabels[step]} failed: ${excerpt(outcome.message)}`);
      } else if (outcome.kind === 'measured' && outcome.samples !== undefined) {
        lines.push(
          `    ${stepLabels[step]}: median of ${outcome.samples.map((x) => x.toFixed(2)).join(', ')} s`,
        );
      }
    }
    for (const { step, problem, round } of run.checks) {
      if (problem !== undefined) {
        const when = `${stepLabels[step]}${round === undefined ? '' : ` (round ${round})`}`;
        lines.push(`    apt-get check after ${when} FAILED: ${excerpt(problem)}`);
      }
    }
  }
  lines.push(
    '  every step is checked after it ran by apt-get update (own config and state, signed-by the',
    "  run's key, date checks on), which must see exactly the corpus, download a sample and",
    '  resolve Depends; the figures of a tool whose check FAILED do not count as "fastest peer".',
  );
  return lines;
}

function excerpt(text: string): string {
  return text.trim().split('\n').slice(0, 8).join('\n      ');
}

/** Breaks a long line at spaces to fit 100 columns. */
function wrap(text: string, first: string, rest: string): string[] {
  const lines: string[] = [];
  let line = first;
  for (const word of text.split(' ')) {
    if (line.trim() !== '' && line.length + word.length + 1 > 100) {
      lines.push(line);
      line = rest;
    }
    line += line.trim() === '' ? word : ` ${word}`;
  }
  lines.push(line);
  return lines;
}
