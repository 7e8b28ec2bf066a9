import type { Forge } from './forge-signatures.ts';

/**
 * What a verified forge delivery asks for: build a pushed ref, build a pull
 * request because a comment said so, or nothing kiln acts on.
 */
export type ForgeEvent =
  | {
      readonly kind: 'push';
      readonly ref: string;
      readonly commit: string;
      readonly repositoryUrl: string;
      /** When the forge says the push happened, inside the signed payload. */
      readonly signedAt: Date | undefined;
    }
  | {
      readonly kind: 'comment';
      /** The comment's first line. */
      readonly command: string;
      readonly ref: string;
      readonly repositoryUrl: string;
      readonly signedAt: Date | undefined;
      /** Whether the commenter may start builds (owner, member or collaborator). */
      readonly trusted: boolean;
    }
  | { readonly kind: 'ignored'; readonly reason: string };

const zeroCommit = /^0+$/;

/** Reads `path` in a JSON value, or `undefined`. */
function at(value: unknown, ...path: readonly string[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** GitHub's `pushed_at` is seconds since the epoch; comments carry RFC 3339 times. */
function time(value: unknown): Date | undefined {
  if (typeof value === 'number') {
    return new Date(value * 1000);
  }
  const parsed = typeof value === 'string' ? new Date(value) : undefined;
  return parsed === undefined || Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

function push(payload: unknown, cloneUrl: unknown, signedAt: Date | undefined): ForgeEvent {
  const ref = text(at(payload, 'ref'));
  const commit = text(at(payload, 'after'));
  const repositoryUrl = text(cloneUrl);
  if (ref === undefined || commit === undefined || repositoryUrl === undefined) {
    return { kind: 'ignored', reason: 'the push names no ref, commit or clone URL' };
  }
  if (zeroCommit.test(commit)) {
    return { kind: 'ignored', reason: `${ref} was deleted` };
  }
  return { kind: 'push', ref, commit, repositoryUrl, signedAt };
}

/** GitHub's pull-request comments: only its `issue_comment` event names a pull request. */
function githubComment(payload: unknown): ForgeEvent {
  const number = at(payload, 'issue', 'number');
  if (at(payload, 'action') !== 'created' || at(payload, 'issue', 'pull_request') === undefined) {
    return { kind: 'ignored', reason: 'not a new comment on a pull request' };
  }
  const repositoryUrl = text(at(payload, 'repository', 'clone_url'));
  if (typeof number !== 'number' || repositoryUrl === undefined) {
    return { kind: 'ignored', reason: 'the comment names no pull request or clone URL' };
  }
  const body = text(at(payload, 'comment', 'body')) ?? '';
  return {
    kind: 'comment',
    command: (body.split(/\r?\n/, 1)[0] ?? '').trim(),
    // GitHub serves every pull request's head as this ref of the base repository.
    ref: `refs/pull/${number}/head`,
    repositoryUrl,
    signedAt: time(at(payload, 'comment', 'created_at')),
    trusted: ['OWNER', 'MEMBER', 'COLLABORATOR'].includes(
      String(at(payload, 'comment', 'author_association')),
    ),
  };
}

/**
 * Reads a delivery's JSON payload by forge and event name (GitHub's
 * `X-GitHub-Event`, GitLab's `X-Gitlab-Event`, Gitea's and Forgejo's
 * `X-Gitea-Event`). Tags arrive as pushes of `refs/tags/...` on every forge.
 */
export function parseForgeEvent(forge: Forge, event: string, payload: unknown): ForgeEvent {
  switch (forge) {
    case 'github':
      if (event === 'push') {
        return push(
          payload,
          at(payload, 'repository', 'clone_url'),
          time(at(payload, 'repository', 'pushed_at')),
        );
      }
      if (event === 'issue_comment') {
        return githubComment(payload);
      }
      break;
    case 'gitlab':
      if (event === 'Push Hook' || event === 'Tag Push Hook') {
        return push(payload, at(payload, 'project', 'git_http_url'), undefined);
      }
      break;
    case 'gitea':
    case 'forgejo':
      if (event === 'push') {
        return push(payload, at(payload, 'repository', 'clone_url'), undefined);
      }
      break;
  }
  return { kind: 'ignored', reason: `kiln does not act on ${forge} ${event} events` };
}
