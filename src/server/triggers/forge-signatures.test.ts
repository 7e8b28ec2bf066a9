import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { verifyForgeDelivery } from './forge-signatures.ts';

const body = Buffer.from('{"ref":"refs/heads/main"}');
const hmac = (secret: string) => createHmac('sha256', secret).update(body).digest('hex');

test('GitHub: X-Hub-Signature-256 is the HMAC-SHA256 of the body', () => {
  const headers = (signature: string) => ({
    'x-hub-signature-256': signature,
    'x-github-delivery': 'd-1',
    'x-github-event': 'push',
  });
  assert.deepEqual(verifyForgeDelivery('github', 'k', headers(`sha256=${hmac('k')}`), body), {
    ok: true,
    deliveryId: 'd-1',
    event: 'push',
  });
  for (const bad of [`sha256=${hmac('other')}`, hmac('k'), '', `sha1=${hmac('k')}`]) {
    assert.equal(verifyForgeDelivery('github', 'k', headers(bad), body).ok, false, bad);
  }
  const changed = Buffer.from('{"ref":"refs/heads/evil"}');
  assert.equal(
    verifyForgeDelivery('github', 'k', headers(`sha256=${hmac('k')}`), changed).ok,
    false,
  );
});

test('GitLab: X-Gitlab-Token is the secret', () => {
  const headers = (token: string) => ({
    'x-gitlab-token': token,
    'x-gitlab-event-uuid': 'u-1',
    'x-gitlab-event': 'Push Hook',
  });
  assert.equal(verifyForgeDelivery('gitlab', 'tok', headers('tok'), body).ok, true);
  assert.equal(verifyForgeDelivery('gitlab', 'tok', headers('to'), body).ok, false);
  assert.equal(verifyForgeDelivery('gitlab', 'tok', headers('tok2'), body).ok, false);
});

test('Gitea and Forgejo: the signature header is the HMAC in hex', () => {
  const gitea = {
    'x-gitea-signature': hmac('s'),
    'x-gitea-delivery': 'g',
    'x-gitea-event': 'push',
  };
  assert.equal(verifyForgeDelivery('gitea', 's', gitea, body).ok, true);
  assert.equal(verifyForgeDelivery('gitea', 'x', gitea, body).ok, false);
  const forgejo = {
    'x-forgejo-signature': hmac('s'),
    'x-forgejo-delivery': 'f',
    'x-forgejo-event': 'push',
  };
  assert.deepEqual(verifyForgeDelivery('forgejo', 's', forgejo, body), {
    ok: true,
    deliveryId: 'f',
    event: 'push',
  });
});

test('a good signature without a delivery id is refused: replays could not be told apart', () => {
  const result = verifyForgeDelivery(
    'github',
    'k',
    { 'x-hub-signature-256': `sha256=${hmac('k')}`, 'x-github-event': 'push' },
    body,
  );
  assert.ok(!result.ok);
  assert.match(result.reason, /delivery id/);
});
