import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertSignableText, cleartextSignedText, frameCleartext } from './cleartext.ts';
import { SignerError } from './signer.ts';

const signature = '-----BEGIN PGP SIGNATURE-----\n\nAAAA\n=BBBB\n-----END PGP SIGNATURE-----\n';

describe('frameCleartext', () => {
  it('dash-escapes, keeps the text whole and adds the line ending §7 does not sign', () => {
    assert.equal(
      frameCleartext('Origin: x\n-dash\n--\nend  \n', ['SHA512', 'SHA512'], signature),
      '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n' +
        'Origin: x\n- -dash\n- --\nend  \n\n' +
        signature,
    );
  });

  it('tells a text with a final line ending from one without', () => {
    const framed = ['a', 'a\n', ''].map((text) => frameCleartext(text, ['SHA256'], signature));
    assert.equal(new Set(framed).size, 3);
    assert.ok(framed[0]!.includes('\n\na\n-----BEGIN PGP SIGNATURE-----'));
    assert.ok(framed[1]!.includes('\n\na\n\n-----BEGIN PGP SIGNATURE-----'));
  });

  it('names every hash algorithm once', () => {
    assert.match(
      frameCleartext('x', ['SHA256', 'SHA512', 'SHA256'], signature),
      /^.*\nHash: SHA256,SHA512\n\n/,
    );
  });
});

describe('cleartextSignedText', () => {
  it('drops spaces and tabs at line ends only (RFC 4880 §7.1)', () => {
    assert.equal(
      cleartextSignedText('a \t\n \n\tb\t \nc\u00a0\nd\v\n  e  f  '),
      'a\n\n\tb\nc\u00a0\nd\v\n  e  f',
    );
    assert.equal(cleartextSignedText(''), '');
    assert.equal(cleartextSignedText(`${' '.repeat(100_000)}x`), `${' '.repeat(100_000)}x`);
  });
});

describe('assertSignableText', () => {
  it('refuses a carriage return and a lone surrogate, and nothing else', () => {
    for (const text of ['a\r\nb', 'a\rb', 'x\ud800', '\udc00']) {
      assert.throws(
        () => {
          assertSignableText(text);
        },
        (error: unknown) => error instanceof SignerError && error.code === 'unsignable_text',
        JSON.stringify(text),
      );
    }
    for (const text of ['', 'a\n', '🦀 \t\u0000\u00a0\n-']) {
      assertSignableText(text);
    }
  });
});
