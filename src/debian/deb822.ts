/**
 * Debian control files (deb822): paragraphs of `Field: value` lines with
 * continuation lines, as specified in Debian Policy §5.1 and deb822(5).
 */

/** One paragraph: fields in file order. Field names compare case-insensitively. */
export class Paragraph {
  readonly #fields: [name: string, value: string][];

  constructor(fields: readonly (readonly [string, string])[]) {
    this.#fields = fields.map(([name, value]) => [name, value]);
  }

  /** The value of a field (any case), or `undefined`. Multi-line values keep their newlines. */
  get(name: string): string | undefined {
    // As written first: the usual case, and no string made per field.
    for (const [n, value] of this.#fields) {
      if (n === name) {
        return value;
      }
    }
    const lower = name.toLowerCase();
    return this.#fields.find(([n]) => n.toLowerCase() === lower)?.[1];
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Field names in file order, as written. */
  names(): string[] {
    return this.#fields.map(([n]) => n);
  }

  entries(): [string, string][] {
    return this.#fields.map(([n, v]) => [n, v]);
  }

  /** The fields in file order as the paragraph holds them: not a copy, for reading. */
  fields(): readonly (readonly [name: string, value: string])[] {
    return this.#fields;
  }

  /** A plain object of the fields (names as written), for JSON. */
  toObject(): Record<string, string> {
    return Object.fromEntries(this.#fields);
  }
}

export class Deb822Error extends Error {
  override readonly name = 'Deb822Error';
  readonly line: number;

  constructor(message: string, line: number) {
    super(`line ${line}: ${message}`);
    this.line = line;
  }
}

const fieldName = /^[!-9;-~][!-9;-~]*$/u;

/**
 * Parses deb822 text into paragraphs. Lines end with LF or CRLF (carriage
 * returns at a line's end are dropped). Blank lines separate paragraphs; a line
 * starting with a space or tab continues the previous field; lines starting
 * with `#` are comments. Throws `Deb822Error` naming the line of a malformed
 * one (a field without a colon, a continuation with no field, a field twice in
 * a paragraph).
 */
export function parseDeb822(text: string): Paragraph[] {
  const paragraphs: Paragraph[] = [];
  let fields: [string, string][] = [];
  let seen = new Set<string>();
  // Line by line without splitting the text first: a .deb's control file
  // is read for every package an include adds.
  let number = 0;
  for (let start = 0; start <= text.length;) {
    const newline = text.indexOf('\n', start);
    const next = newline === -1 ? text.length : newline;
    const end = withoutTrailingCarriageReturns(text, start, next);
    number += 1;
    const first = start < end ? text.charCodeAt(start) : -1;
    if (isBlank(text, start, end)) {
      if (fields.length > 0) {
        paragraphs.push(new Paragraph(fields));
        fields = [];
        seen = new Set();
      }
    } else if (first === 0x23 /* # */) {
      // A comment.
    } else if (first === 0x20 || first === 0x09) {
      const last = fields.at(-1);
      if (last === undefined) {
        throw new Deb822Error('a continuation line with no field before it', number);
      }
      last[1] += `\n${text.slice(start + 1, end)}`;
    } else {
      const line = text.slice(start, end);
      const colon = line.indexOf(':');
      const name = colon === -1 ? '' : line.slice(0, colon);
      if (colon <= 0 || !fieldName.test(name)) {
        throw new Deb822Error(`not a field: ${JSON.stringify(line.slice(0, 80))}`, number);
      }
      const lower = name.toLowerCase();
      if (seen.has(lower)) {
        throw new Deb822Error(`field ${name} appears twice in one paragraph`, number);
      }
      seen.add(lower);
      fields.push([name, line.slice(colon + 1).trim()]);
    }
    start = next + 1;
  }
  if (fields.length > 0) {
    paragraphs.push(new Paragraph(fields));
  }
  return paragraphs;
}

/** Whether `text` from `start` to `end` is only spaces and tabs. */
function isBlank(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code !== 0x20 && code !== 0x09) {
      return false;
    }
  }
  return true;
}

/**
 * Where the line from `start` to `end` ends without the carriage returns at
 * its end: they belong to the line break (CRLF files, and stray CRs before
 * one); kept in a value, formatDeb822 could not write them back. A loop, not
 * a regular expression, so that a long run of CRs costs linear time.
 */
function withoutTrailingCarriageReturns(text: string, start: number, end: number): number {
  let at = end;
  while (at > start && text.charCodeAt(at - 1) === 0x0d) {
    at--;
  }
  return at;
}

/**
 * The signed text of an OpenPGP clearsigned message (RFC 4880 §7), with
 * dash-escaping undone, or the text itself when it is not clearsigned. The
 * signature is not checked here.
 */
export function stripClearsign(text: string): string {
  const normalized = text.replace(/\r\n/g, '\n');
  if (!normalized.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) {
    return normalized;
  }
  const body = normalized.slice(normalized.indexOf('\n\n') + 2);
  const end = body.indexOf('\n-----BEGIN PGP SIGNATURE-----');
  return (end === -1 ? body : body.slice(0, end))
    .split('\n')
    .map((line) => (line.startsWith('- ') ? line.slice(2) : line))
    .join('\n');
}

/** Formats paragraphs back into deb822 text (multi-line values continue with a space). */
export function formatDeb822(paragraphs: readonly Paragraph[]): string {
  // An empty paragraph is a line of its own still.
  return paragraphs.map((p) => formatFields(p.entries()) || '\n').join('\n');
}

/** Fields as deb822 lines, each line ending with a newline. */
export function formatFields(fields: Iterable<readonly [string, string]>): string {
  let text = '';
  for (const [name, value] of fields) {
    text += formatField(name, value);
  }
  return text;
}

/** One field as deb822 lines, each ending with a newline (multi-line values continue with a space). */
export function formatField(name: string, value: string): string {
  if (!value.includes('\n')) {
    return value === '' ? `${name}:\n` : `${name}: ${value}\n`;
  }
  const [first = '', ...rest] = value.split('\n');
  let text = `${name}:${first === '' ? '' : ` ${first}`}\n`;
  for (const line of rest) {
    text += ` ${line === '' ? '.' : line}\n`;
  }
  return text;
}

/** Parses a file list field (`Files`, `Checksums-Sha256`): one `hash size name` per line. */
export function parseFileList(
  value: string | undefined,
): { hash: string; size: number; name: string }[] {
  return (value ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line) => {
      const [hash = '', size = '', name = ''] = line.split(/\s+/);
      return { hash, size: Number(size), name };
    });
}
