import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainUnstorableJson } from './jsonb.ts';

describe('explainUnstorableJson', () => {
  it('accepts JSON that jsonb stores, surrogate pairs and other control characters included', () => {
    for (const value of [
      {},
      { a: [1, 'two', null, true, { b: 'tab\there\u0001\u007f' }] },
      { '🦀': '\ud83e\udd80' },
      'plain',
      42,
      null,
      undefined,
    ]) {
      assert.equal(explainUnstorableJson(value), undefined, JSON.stringify(value));
    }
  });

  it('finds a NUL or an unpaired surrogate in any key or value, saying where', () => {
    const cases: readonly [unknown, RegExp][] = [
      ['a\u0000', /^: the NUL character/],
      [{ k: 'a\u0000b' }, /^data\.k: the NUL/],
      [{ 'k\u0000': 1 }, /^data key "k\\u0000": the NUL/],
      [{ list: [1, { deep: '\ud800' }] }, /^data\.list\[1\]\.deep: an unpaired surrogate/],
      [{ '\udc00': 1 }, /^data key "\\udc00": an unpaired surrogate/],
    ];
    for (const [value, reason] of cases) {
      const where = typeof value === 'string' ? '' : 'data';
      assert.match(explainUnstorableJson(value, where) ?? 'accepted', reason);
    }
  });
});
