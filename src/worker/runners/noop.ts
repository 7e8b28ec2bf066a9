import type { TaskRunner } from '../runner.ts';

/** `noop`: does nothing (the smallest job; benchmarks measure the farm's own cost with it). */
export const noopRunner: TaskRunner = {
  type: 'noop',
  async run({ assignment }) {
    return { result: assignment.input['result'] === 'failure' ? 'failure' : 'success' };
  },
};
