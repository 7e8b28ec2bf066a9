import assert from 'node:assert/strict';
import { test } from 'node:test';
import { explainBadRefGlob, refMatches } from './ref-filter.ts';

test('* stays within a component, ** spans them', () => {
  assert.equal(refMatches(['refs/heads/main'], 'refs/heads/main'), true);
  assert.equal(refMatches(['refs/heads/main'], 'refs/heads/main2'), false);
  assert.equal(refMatches(['refs/tags/v*'], 'refs/tags/v1.0'), true);
  assert.equal(refMatches(['refs/tags/v*'], 'refs/heads/v1.0'), false);
  assert.equal(refMatches(['refs/heads/*'], 'refs/heads/release/1.0'), false);
  assert.equal(refMatches(['refs/heads/**'], 'refs/heads/release/1.0'), true);
  assert.equal(refMatches(['refs/heads/release-?'], 'refs/heads/release-2'), true);
  assert.equal(refMatches(['refs/heads/v1.0'], 'refs/heads/v1x0'), false, 'a dot is literal');
  assert.equal(refMatches([], 'refs/heads/main'), false);
  assert.equal(refMatches(['refs/heads/dev', 'refs/tags/*'], 'refs/tags/v2'), true);
});

test('a filter that is not a ref pattern is explained', () => {
  assert.equal(explainBadRefGlob('refs/heads/*'), undefined);
  assert.match(explainBadRefGlob('main') ?? '', /refs\//);
  assert.match(explainBadRefGlob('refs/heads/a b') ?? '', /ref name/);
  assert.match(explainBadRefGlob('refs/heads/../x') ?? '', /ref name/);
});
