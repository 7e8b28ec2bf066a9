import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseForgeEvent } from './forge-events.ts';

const commit = 'a'.repeat(40);

test('a GitHub push names its ref, commit, clone URL and time', () => {
  const event = parseForgeEvent('github', 'push', {
    ref: 'refs/tags/v1.0',
    after: commit,
    repository: { clone_url: 'https://github.com/o/r.git', pushed_at: 1700000000 },
  });
  assert.deepEqual(event, {
    kind: 'push',
    ref: 'refs/tags/v1.0',
    commit,
    repositoryUrl: 'https://github.com/o/r.git',
    signedAt: new Date(1700000000 * 1000),
  });
});

test('a deleted branch and unknown events are ignored', () => {
  const deleted = parseForgeEvent('gitea', 'push', {
    ref: 'refs/heads/x',
    after: '0'.repeat(40),
    repository: { clone_url: 'https://g/x.git' },
  });
  assert.equal(deleted.kind, 'ignored');
  assert.equal(parseForgeEvent('github', 'ping', { zen: 'hi' }).kind, 'ignored');
  assert.equal(parseForgeEvent('gitlab', 'Issue Hook', {}).kind, 'ignored');
  assert.equal(parseForgeEvent('github', 'push', { ref: 'refs/heads/x' }).kind, 'ignored');
});

test('GitLab pushes and tag pushes use the project clone URL', () => {
  const event = parseForgeEvent('gitlab', 'Tag Push Hook', {
    ref: 'refs/tags/v2',
    after: commit,
    project: { git_http_url: 'https://gitlab.example/g/p.git' },
  });
  assert.ok(event.kind === 'push');
  assert.equal(event.repositoryUrl, 'https://gitlab.example/g/p.git');
});

test('a GitHub pull-request comment builds refs/pull/N/head; the commenter must be trusted', () => {
  const payload = (association: string, issue: Record<string, unknown>) => ({
    action: 'created',
    issue,
    comment: {
      body: '/kiln build\nplease',
      author_association: association,
      created_at: '2026-01-02T03:04:05Z',
    },
    repository: { clone_url: 'https://github.com/o/r.git' },
  });
  const event = parseForgeEvent(
    'github',
    'issue_comment',
    payload('MEMBER', { number: 7, pull_request: {} }),
  );
  assert.deepEqual(event, {
    kind: 'comment',
    command: '/kiln build',
    ref: 'refs/pull/7/head',
    repositoryUrl: 'https://github.com/o/r.git',
    signedAt: new Date('2026-01-02T03:04:05Z'),
    trusted: true,
  });
  const stranger = parseForgeEvent(
    'github',
    'issue_comment',
    payload('NONE', { number: 7, pull_request: {} }),
  );
  assert.equal(stranger.kind === 'comment' && stranger.trusted, false);
  const onIssue = parseForgeEvent('github', 'issue_comment', payload('OWNER', { number: 7 }));
  assert.equal(onIssue.kind, 'ignored');
});
