import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSecretBox } from './secret-box.ts';

test('a sealed secret opens under the same passphrase and not another', () => {
  const box = createSecretBox('passphrase one');
  const sealed = box.seal('s3cret');
  assert.doesNotMatch(sealed, /s3cret/);
  assert.notEqual(box.seal('s3cret'), sealed, 'a fresh nonce each time');
  assert.equal(box.open(sealed), 's3cret');
  assert.equal(createSecretBox('passphrase one').open(sealed), 's3cret');
  assert.throws(() => createSecretBox('passphrase two').open(sealed));
});

test('a sealed secret that was changed does not open', () => {
  const box = createSecretBox('p');
  const [v, nonce, tag, body] = box.seal('abcdef').split('.');
  const flipped = Buffer.from(body ?? '', 'base64url');
  flipped[0] = (flipped[0] ?? 0) ^ 1;
  assert.throws(() => box.open([v, nonce, tag, flipped.toString('base64url')].join('.')));
  assert.throws(() => box.open('plain text'));
});
