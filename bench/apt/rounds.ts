/**
 * How `npm run bench:apt` folds a tool's rounds into the one run its report
 * shows: on a noisy machine one round's figure can be twice another's, and
 * the median of a few is what the targets are measured against.
 */
import type { AptCheck, StepName, StepOutcome, ToolRun } from './run-tool.ts';

/** The middle value, or the mean of the two middle ones for an even count. */
export function median(values: readonly number[]): number {
  if (values.length === 0) {
    throw new Error('median of no values');
  }
  const sorted = [...values].sort((a, b) => a - b);
  const upper = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const lower = sorted[Math.ceil(sorted.length / 2) - 1] ?? 0;
  return (lower + upper) / 2;
}

/**
 * The run the report shows for one tool's rounds, given in the order they
 * ran. A step that every round measured gets the median of the rounds'
 * seconds (each round's figure in `samples`) and the highest of their peak
 * RSS; a step some round did not measure shows that round's failure or
 * timeout (or, if none failed it, that it was skipped). Every round's checks
 * are kept, numbered by round. A tool unavailable in any round is
 * unavailable; a single round comes back as it is.
 */
export function mergeRounds(rounds: readonly ToolRun[]): ToolRun {
  const [first] = rounds;
  if (first === undefined) {
    throw new Error('mergeRounds: no rounds');
  }
  const unavailable = rounds.find((round) => round.kind === 'unavailable');
  if (unavailable !== undefined || first.kind === 'unavailable' || rounds.length === 1) {
    return unavailable ?? first;
  }
  const ran = rounds.filter((round) => round.kind === 'ran');
  const mergeStep = (step: StepName) => mergeOutcomes(ran.map((round) => round.steps[step]));
  return {
    name: first.name,
    kind: 'ran',
    summary: first.summary,
    steps: {
      full: mergeStep('full'),
      addOne: mergeStep('addOne'),
      republish: mergeStep('republish'),
    },
    checks: ran.flatMap((round, index) =>
      round.checks.map((check): AptCheck => ({ ...check, round: index + 1 })),
    ),
  };
}

function mergeOutcomes(outcomes: readonly StepOutcome[]): StepOutcome {
  const measured = outcomes.filter((outcome) => outcome.kind === 'measured');
  if (measured.length < outcomes.length) {
    // A failure or timeout says more than the skips that followed another round's failure.
    const failed = outcomes.find((o) => o.kind === 'failed' || o.kind === 'timed out');
    return failed ?? { kind: 'skipped' };
  }
  const samples = measured.map((m) => m.seconds);
  return {
    kind: 'measured',
    seconds: median(samples),
    peakRss: Math.max(...measured.map((m) => m.peakRss)),
    samples,
  };
}
