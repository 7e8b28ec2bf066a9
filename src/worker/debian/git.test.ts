import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainBadGitUrl, explainGitFailure } from './git.ts';

describe('explainGitFailure', () => {
  it("takes git's fatal line, not the advice after it", () => {
    const output = [
      "fatal: '/srv/nothing' does not appear to be a git repository",
      'fatal: Could not read from remote repository.',
      '',
      'Please make sure you have the correct access rights',
      'and the repository exists.',
      '',
    ].join('\n');
    assert.equal(
      explainGitFailure(output),
      "'/srv/nothing' does not appear to be a git repository",
    );
  });

  it('falls back to the last line, and says when there is none', () => {
    assert.equal(explainGitFailure('error: one\nerror: two\n'), 'error: two');
    assert.equal(explainGitFailure('\n'), 'git said nothing');
  });
});

describe('explainBadGitUrl', () => {
  it('accepts absolute paths and the protocols git fetches over', () => {
    for (const url of [
      '/srv/git/a',
      'https://h/a.git',
      'file:///srv/a',
      'ssh://h/a',
      'git://h/a',
    ]) {
      assert.equal(explainBadGitUrl(url), undefined, url);
    }
  });

  it('refuses relative paths and other protocols', () => {
    assert.equal(explainBadGitUrl('repo'), 'is neither an absolute path nor a URL');
    // git's ext:: transport runs a command: never a URL kiln fetches.
    assert.match(explainBadGitUrl('ext::sh -c touch% /tmp/pwned') ?? '', /^has protocol ext:/);
    assert.match(explainBadGitUrl('ftp://h/a') ?? '', /^has protocol ftp:/);
  });
});
