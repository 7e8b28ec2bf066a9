import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { createIndexHashCache, updateHashState, type HashState } from './index-hashes.ts';

const content = (part: string) => Buffer.from(`stanzas of ${part}\n`);
const sha256 = (parts: readonly string[]) =>
  createHash('sha256')
    .update(Buffer.concat(parts.map(content)))
    .digest('hex');

/** Hashes `parts` as the index builder does: from the cached prefix, remembering before and after the last. */
function hashWith(cache: ReturnType<typeof createIndexHashCache>, parts: readonly string[]) {
  const found = cache.find(parts, parts.length);
  let state: HashState = found.state;
  for (let i = found.length; i < parts.length; i++) {
    if (i === parts.length - 1) {
      cache.remember(parts.slice(0, -1), state);
    }
    const bytes = content(parts[i] ?? '');
    state = updateHashState(state, bytes);
  }
  cache.remember(parts, state);
  const sha512 = state.sha512.digest('hex');
  assert.equal(
    sha512,
    createHash('sha512')
      .update(Buffer.concat(parts.map(content)))
      .digest('hex'),
  );
  return { from: found.length, sha256: state.sha256.digest('hex') };
}

describe('index hash cache', () => {
  it('goes on from the state before a changed last part, or after the last part', () => {
    const cache = createIndexHashCache();
    assert.deepEqual(hashWith(cache, ['a', 'b', 'c']), {
      from: 0,
      sha256: sha256(['a', 'b', 'c']),
    });
    // The last chunk rebuilt (a package added to it): from the state after a, b.
    assert.deepEqual(hashWith(cache, ['a', 'b', 'c2']), {
      from: 2,
      sha256: sha256(['a', 'b', 'c2']),
    });
    // A new chunk opened: from the state after all three.
    assert.deepEqual(hashWith(cache, ['a', 'b', 'c2', 'd']), {
      from: 3,
      sha256: sha256(['a', 'b', 'c2', 'd']),
    });
    // Unchanged: nothing left to hash.
    assert.deepEqual(hashWith(cache, ['a', 'b', 'c2', 'd']), {
      from: 4,
      sha256: sha256(['a', 'b', 'c2', 'd']),
    });
  });

  it('hashes from the start when the change is in the middle, and forgets the oldest states', () => {
    const cache = createIndexHashCache(2);
    hashWith(cache, ['a', 'b', 'c']);
    assert.deepEqual(hashWith(cache, ['a', 'x', 'c']), {
      from: 0,
      sha256: sha256(['a', 'x', 'c']),
    });
    // Two states kept: those of a, x, c (before and after its last part); a, b is gone.
    assert.equal(cache.find(['a', 'b', 'c'], 3).length, 0);
    assert.equal(cache.find(['a', 'x', 'c'], 3).length, 3);
  });
});
