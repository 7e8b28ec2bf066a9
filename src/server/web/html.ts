/**
 * HTML built with a tagged template that escapes every interpolated value.
 *
 * Node runs kiln's TypeScript by stripping types, which has no JSX transform,
 * so JSX-based template libraries are out; the string-template libraries that
 * remain add a dependency for what is one function here. `html` escapes
 * strings and numbers, joins arrays, drops `null`, `undefined` and `false`, and
 * passes `Html` (another template's result) through unescaped.
 */

/** A piece of markup that is already safe to send. */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

/** What a template may interpolate. */
export type HtmlValue =
  Html | string | number | bigint | boolean | null | undefined | readonly HtmlValue[];

const entities: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for an element's content or a quoted attribute value (HTML §13.1.2.3). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => entities[c] ?? c);
}

function render(value: HtmlValue): string {
  if (value instanceof Html) {
    return value.text;
  }
  if (Array.isArray(value)) {
    return value.map(render).join('');
  }
  if (value === null || value === undefined || value === false) {
    return '';
  }
  return escapeHtml(String(value));
}

/** The tag: `html\`<p>${userText}</p>\`` escapes `userText`. */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let out = strings[0] ?? '';
  for (const [i, value] of values.entries()) {
    out += render(value) + (strings[i + 1] ?? '');
  }
  return new Html(out);
}

/** Trusted markup, sent as it is: only for constants kiln itself writes. */
export function unsafeRaw(text: string): Html {
  return new Html(text);
}
