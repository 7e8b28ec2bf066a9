import assert from 'node:assert/strict';
import { it } from 'node:test';
import { escapeHtml, html, unsafeRaw } from './html.ts';

it('escapes the five characters that matter in content and quoted attributes', () => {
  assert.equal(
    escapeHtml(`<a href="x" title='y'>&</a>`),
    '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
  );
});

it('escapes interpolated strings but not nested templates', () => {
  const name = '<script>alert(1)</script>';
  const inner = html`<b>${name}</b>`;
  assert.equal(
    html`<p title="${name}">${inner}</p>`.text,
    '<p title="&lt;script&gt;alert(1)&lt;/script&gt;"><b>&lt;script&gt;alert(1)&lt;/script&gt;</b></p>',
  );
});

it('joins arrays, prints numbers, drops null, undefined and false', () => {
  const items = ['a&b', html`<i>c</i>`];
  assert.equal(
    html`${items}|${42}|${null}|${undefined}|${false}|${true}`.text,
    'a&amp;b<i>c</i>|42||||true',
  );
});

it('passes trusted markup through as it is', () => {
  assert.equal(html`${unsafeRaw('<br>')}`.text, '<br>');
});

it('does not double-escape a value escaped once', () => {
  assert.equal(html`${'&amp;'}`.text, '&amp;amp;');
});
