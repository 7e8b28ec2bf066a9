import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { median, mergeRounds } from '../../bench/apt/rounds.ts';
import type { AptCheck, StepOutcome, ToolRun } from '../../bench/apt/run-tool.ts';

const measured = (seconds: number, peakRss: number, samples?: readonly number[]): StepOutcome => ({
  kind: 'measured',
  seconds,
  peakRss,
  ...(samples === undefined ? {} : { samples }),
});

const ok: readonly AptCheck[] = [
  { step: 'full', problem: undefined },
  { step: 'addOne', problem: undefined },
  { step: 'republish', problem: undefined },
];

function round(
  full: StepOutcome,
  addOne: StepOutcome,
  republish: StepOutcome,
  checks: readonly AptCheck[] = ok,
): ToolRun {
  return {
    name: 'peer',
    kind: 'ran',
    summary: 'a peer',
    steps: { full, addOne, republish },
    checks,
  };
}

describe("bench:apt's rounds", () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    assert.equal(median([8.65, 4.1, 4.23]), 4.23);
    assert.equal(median([3, 1]), 2);
    assert.equal(median([5]), 5);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.throws(() => median([]));
  });

  it("gives each step the median of the rounds' seconds and the highest peak RSS", () => {
    const addOneRound: StepOutcome = measured(0.3, 10e6, [0.2, 0.3, 0.4]);
    const merged = mergeRounds([
      round(measured(4.1, 100e6), addOneRound, measured(1.0, 50e6)),
      round(measured(8.65, 300e6), measured(0.5, 20e6), measured(0.9, 40e6)),
      round(measured(4.23, 200e6), measured(0.1, 30e6), measured(1.2, 60e6)),
    ]);
    assert.equal(merged.kind, 'ran');
    assert.deepEqual(merged.steps, {
      full: { kind: 'measured', seconds: 4.23, peakRss: 300e6, samples: [4.1, 8.65, 4.23] },
      // Each round's +1 figure is already a median of its packages: the rounds' medians are the samples.
      addOne: { kind: 'measured', seconds: 0.3, peakRss: 30e6, samples: [0.3, 0.5, 0.1] },
      republish: { kind: 'measured', seconds: 1.0, peakRss: 60e6, samples: [1.0, 0.9, 1.2] },
    });
    assert.equal(merged.checks.length, 9);
    assert.deepEqual(
      merged.checks.map((c) => c.round),
      [1, 1, 1, 2, 2, 2, 3, 3, 3],
    );
  });

  it("shows a round's failure or timeout over the others' figures and skips", () => {
    const failed: StepOutcome = { kind: 'failed', message: 'gpg: signing failed' };
    const merged = mergeRounds([
      round(measured(4.1, 1), measured(0.2, 1), measured(1, 1)),
      round(failed, { kind: 'skipped' }, { kind: 'skipped' }, []),
      round(
        measured(4.2, 1),
        { kind: 'timed out', seconds: 15 },
        { kind: 'skipped' },
        ok.slice(0, 1),
      ),
    ]);
    assert.equal(merged.kind, 'ran');
    assert.deepEqual(merged.steps, {
      full: failed,
      addOne: { kind: 'timed out', seconds: 15 },
      republish: { kind: 'skipped' },
    });
  });

  it("keeps every round's failed check, with its round", () => {
    const merged = mergeRounds([
      round(measured(1, 1), measured(1, 1), measured(1, 1)),
      round(measured(1, 1), measured(1, 1), measured(1, 1), [
        { step: 'full', problem: 'apt-get update: NO_PUBKEY' },
        ...ok.slice(1),
      ]),
    ]);
    assert.equal(merged.kind, 'ran');
    const failedChecks = merged.checks.filter((c) => c.problem !== undefined);
    assert.deepEqual(failedChecks, [
      { step: 'full', problem: 'apt-get update: NO_PUBKEY', round: 2 },
    ]);
  });

  it('returns a single round as it is, and an unavailable tool as unavailable', () => {
    const only = round(measured(2, 1), measured(0.2, 1, [0.1, 0.2, 0.3]), measured(1, 1));
    assert.equal(mergeRounds([only]), only);
    const missing: ToolRun = { name: 'aptly', kind: 'unavailable', reason: 'aptly: not installed' };
    assert.equal(mergeRounds([only, missing]), missing);
    assert.throws(() => mergeRounds([]));
  });
});
