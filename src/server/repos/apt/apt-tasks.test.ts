import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { briefly } from './apt-tasks.ts';

describe("a repository change's task message", () => {
  it('lists up to ten changes, one a line', () => {
    const lines = Array.from({ length: 10 }, (_, i) => `added p${i} 1 amd64`);
    assert.equal(briefly(lines), lines.join('\n'));
    assert.equal(briefly([]), '');
  });

  it('counts more, by kind, in the order the kinds first come', () => {
    const lines = [
      ...Array.from({ length: 20000 }, (_, i) => `added p${i} 1 amd64`),
      'replaced q 2 amd64 (was 1)',
      'replaced r 2 all (was 1)',
    ];
    assert.equal(briefly(lines), 'added 20000, replaced 2 packages (the log lists them)');
  });
});
