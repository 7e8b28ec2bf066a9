import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runStanding, shouldRetry, type TaskStanding } from './run-status.ts';

let nextId = 1;
function task(
  state: TaskStanding['state'],
  result: TaskStanding['result'] = null,
  reason: string | null = null,
): TaskStanding {
  return { id: nextId++, step: `s${nextId}`, state, result, reason, message: null };
}

describe('run status (BuildIt rules)', () => {
  it('is running while any task has not ended', () => {
    for (const state of ['blocked', 'pending', 'running'] as const) {
      const standing = runStanding([task('completed', 'error'), task(state)]);
      assert.equal(standing.done, false);
      assert.equal(standing.result, null);
    }
  });

  it('error if any task errored, even when others failed', () => {
    assert.equal(
      runStanding([
        task('completed', 'failure'),
        task('completed', 'error'),
        task('completed', 'success'),
      ]).result,
      'error',
    );
  });

  it('failure if any failed (or was cancelled) and none errored', () => {
    assert.equal(
      runStanding([task('completed', 'success'), task('completed', 'failure')]).result,
      'failure',
    );
    assert.equal(
      runStanding([task('completed', 'success'), task('cancelled', null, 'cancelled')]).result,
      'failure',
    );
  });

  it('success if all succeeded; neutral with no task at all', () => {
    assert.equal(
      runStanding([task('completed', 'success'), task('completed', 'success')]).result,
      'success',
    );
    assert.deepEqual(runStanding([]), { done: true, result: 'neutral', message: null, failed: [] });
  });

  it('names the tasks that failed by themselves, not those they blocked', () => {
    const failed = {
      ...task('completed', 'failure'),
      step: 'binary:arm64',
      message: 'dpkg-buildpackage failed',
    };
    const blocked = task('completed', 'failure', 'blocked-failed');
    const standing = runStanding([task('completed', 'success'), failed, blocked]);
    assert.deepEqual(standing.failed, [failed.id]);
    assert.equal(
      standing.message,
      `binary:arm64 (task ${failed.id}) failed: dpkg-buildpackage failed`,
    );
  });
});

describe('retry policy', () => {
  it('retries errors up to the limit, never failures or blocked tasks', () => {
    assert.equal(shouldRetry({ ...task('completed', 'error'), retries: 0 }, 2), true);
    assert.equal(shouldRetry({ ...task('completed', 'error'), retries: 2 }, 2), false);
    assert.equal(shouldRetry({ ...task('completed', 'failure'), retries: 0 }, 2), false);
    assert.equal(
      shouldRetry({ ...task('completed', 'error', 'blocked-failed'), retries: 0 }, 2),
      false,
    );
    assert.equal(shouldRetry({ ...task('cancelled', null, 'cancelled'), retries: 0 }, 2), false);
  });
});
