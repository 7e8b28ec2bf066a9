import { createHmac, randomUUID } from 'node:crypto';

/**
 * A forge's webhook sender, faked (no forge is reachable from here): the
 * requests GitHub, GitLab and Gitea send, signed as they sign them, over real
 * HTTP to a kiln server.
 */
export interface ForgeDelivery {
  readonly status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any answer's JSON
  readonly body: any;
}

export async function sendDelivery(
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<ForgeDelivery> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: response.status, body: await response.json() };
}

/** GitHub's headers for `body`, signed with `secret` (X-Hub-Signature-256). */
export function githubHeaders(
  secret: string,
  event: string,
  body: string,
  delivery = randomUUID(),
): Record<string, string> {
  return {
    'x-github-event': event,
    'x-github-delivery': delivery,
    'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
  };
}

/** A GitHub push event's payload. */
export function githubPush(
  ref: string,
  commit: string,
  cloneUrl: string,
  pushedAt = Math.floor(Date.now() / 1000),
): string {
  return JSON.stringify({
    ref,
    before: '0'.repeat(40),
    after: commit,
    repository: { full_name: 'o/r', clone_url: cloneUrl, pushed_at: pushedAt },
    pusher: { name: 'octocat' },
  });
}

/** A GitHub comment on pull request `number`. */
export function githubPullComment(number: number, text: string, association: string): string {
  return JSON.stringify({
    action: 'created',
    issue: { number, pull_request: { url: `https://api.github.com/repos/o/r/pulls/${number}` } },
    comment: {
      id: Math.floor(Math.random() * 1e9),
      body: text,
      author_association: association,
      created_at: new Date().toISOString(),
    },
    repository: { full_name: 'o/r', clone_url: 'https://github.com/o/r.git' },
  });
}
