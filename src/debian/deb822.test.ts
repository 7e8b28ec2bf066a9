import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Deb822Error, Paragraph, formatDeb822, parseDeb822, stripClearsign } from './deb822.ts';

/** Field names: mostly the usual `Word-Word`, sometimes any printable ASCII but `:` (deb822(5)). */
const fieldName = fc.oneof(
  fc.stringMatching(/^[A-Z][a-z]{0,8}(?:-[A-Z][a-z0-9]{0,6}){0,2}$/),
  fc.stringMatching(/^[!"$-9;-~][!-9;-~]{0,10}$/),
);

/** A line of a value: text with no line break (unicode and tabs included). */
const lineText = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.constantFrom('.', ' .', '\tindented', '  two spaces', '#not a comment', 'a: b'),
);
// A continuation line must hold something but spaces and tabs: a blank line ends the paragraph.
const continuationText = lineText.filter((l) => !/^[ \t]*$/.test(l) && !l.includes('\n'));
const firstLine = lineText.map((l) => l.trim()).filter((l) => !l.includes('\n'));
const value = fc
  .tuple(firstLine, fc.array(continuationText, { maxLength: 4 }))
  .map(([first, rest]) => [first, ...rest].join('\n'));

const paragraph = fc
  .uniqueArray(fc.tuple(fieldName, value), {
    minLength: 1,
    maxLength: 8,
    selector: ([name]) => name.toLowerCase(),
  })
  .map((fields) => new Paragraph(fields));
const paragraphs = fc.array(paragraph, { minLength: 1, maxLength: 4 });

/** Text made of the pieces deb822 gives a meaning to, so that parsing goes deep. */
const deb822ish = fc
  .array(
    fc.constantFrom(
      'Name: ',
      'a: b',
      'x',
      ':',
      ' ',
      '\t',
      '\n',
      '\n ',
      '\n\n',
      '\r',
      '\r\n',
      '#',
      '.',
      'é',
      '\u00a0',
    ),
    { maxLength: 30 },
  )
  .map((pieces) => pieces.join(''));

const entriesOf = (ps: readonly Paragraph[]) => ps.map((p) => p.entries());

function parseOrError(text: string): Paragraph[] | Deb822Error {
  try {
    return parseDeb822(text);
  } catch (error) {
    if (error instanceof Deb822Error) {
      return error;
    }
    throw error;
  }
}

describe('deb822 properties', () => {
  it('parses what formatDeb822 writes back to the same paragraphs', () => {
    fc.assert(
      fc.property(paragraphs, (ps) => {
        assert.deepEqual(entriesOf(parseDeb822(formatDeb822(ps))), entriesOf(ps));
      }),
      { numRuns: 500 },
    );
  });

  it('reaches a fixed point: format(parse(x)) parses to parse(x)', () => {
    fc.assert(
      fc.property(fc.oneof(deb822ish, fc.string({ unit: 'grapheme', maxLength: 60 })), (text) => {
        const parsed = parseOrError(text);
        if (parsed instanceof Deb822Error) {
          return;
        }
        const formatted = formatDeb822(parsed);
        assert.deepEqual(entriesOf(parseDeb822(formatted)), entriesOf(parsed));
        assert.equal(formatDeb822(parseDeb822(formatted)), formatted);
      }),
      { numRuns: 2000 },
    );
  });

  it('throws nothing but Deb822Error, with a line number inside the text', () => {
    fc.assert(
      fc.property(
        fc.oneof(deb822ish, fc.string({ unit: 'binary-ascii', maxLength: 200 }), fc.string()),
        (text) => {
          const parsed = parseOrError(text);
          if (parsed instanceof Deb822Error) {
            const lines = text.replace(/\r\n/g, '\n').split('\n').length;
            assert.ok(parsed.line >= 1 && parsed.line <= lines, `line ${parsed.line} of ${lines}`);
            assert.match(parsed.message, new RegExp(`^line ${parsed.line}: `));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('ignores comment lines wherever they stand', () => {
    fc.assert(
      fc.property(
        paragraphs,
        fc.array(
          fc.tuple(
            fc.nat(),
            fc.string({ maxLength: 10 }).filter((c) => !c.includes('\n')),
          ),
        ),
        (ps, comments) => {
          const lines = formatDeb822(ps).split('\n');
          for (const [at, comment] of comments) {
            lines.splice(at % (lines.length + 1), 0, `#${comment}`);
          }
          assert.deepEqual(entriesOf(parseDeb822(lines.join('\n'))), entriesOf(ps));
        },
      ),
    );
  });

  it('reads CRLF line endings as LF', () => {
    fc.assert(
      fc.property(paragraphs, (ps) => {
        const text = formatDeb822(ps).replace(/\n/g, '\r\n');
        assert.deepEqual(entriesOf(parseDeb822(text)), entriesOf(ps));
      }),
    );
  });

  it('finds every field whatever the case of its name', () => {
    fc.assert(
      fc.property(paragraph, (p) => {
        for (const [name, v] of p.entries()) {
          assert.equal(p.get(name.toUpperCase()), v);
          assert.equal(p.get(name.toLowerCase()), v);
        }
      }),
    );
  });
});

describe('deb822 examples', () => {
  it('joins continuation lines, keeps " ." lines, trims the first line', () => {
    const [p, q] = parseDeb822(
      'Package:  hello  \nDescription: greet\n the world\n .\n  indented\n\n\nPackage: other\n',
    );
    assert.ok(p !== undefined && q !== undefined);
    assert.equal(p.get('package'), 'hello');
    assert.equal(p.get('Description'), 'greet\nthe world\n.\n indented');
    assert.deepEqual(q.toObject(), { Package: 'other' });
  });

  it('drops carriage returns at the end of a line, and only there', () => {
    assert.deepEqual(parseDeb822('A: 1\r\n x\r\r\n y\rz\r')[0]?.entries(), [['A', '1\nx\ny\rz']]);
    assert.equal(parseDeb822('A: 1\n \r\nB: 2\n').length, 2);
  });

  it('separates paragraphs by lines of spaces and tabs too', () => {
    assert.equal(parseDeb822('A: 1\n \t \nB: 2\n').length, 2);
  });

  it('takes an empty value', () => {
    assert.deepEqual(parseDeb822('Empty:\nFiles:\n a 1 f\n')[0]?.entries(), [
      ['Empty', ''],
      ['Files', '\na 1 f'],
    ]);
  });

  it('returns no paragraph for blank text or only comments', () => {
    assert.deepEqual(parseDeb822(''), []);
    assert.deepEqual(parseDeb822('\n\n# nothing\n\n'), []);
  });

  const malformed: [string, string, number, RegExp][] = [
    ['a line without a colon', 'A: 1\nB: 2\nno colon here\n', 3, /not a field: "no colon here"/],
    ['a name before an empty colon', 'A: 1\n: value\n', 2, /not a field/],
    ['a continuation first', ' continued\nA: 1\n', 1, /continuation line with no field/],
    ['a continuation after a blank line', 'A: 1\n\n more\n', 3, /continuation line with no field/],
    ['a space in a name', 'A: 1\nBad Name: 2\n', 2, /not a field/],
    ['a field twice', 'A: 1\nB: 2\na: 3\n', 3, /field a appears twice/],
    ['CRLF line numbers', 'A: 1\r\nB: 2\r\noops\r\n', 3, /not a field: "oops"/],
  ];
  for (const [what, text, line, message] of malformed) {
    it(`rejects ${what} at line ${line}`, () => {
      assert.throws(
        () => parseDeb822(text),
        (error) =>
          error instanceof Deb822Error &&
          error.line === line &&
          message.test(error.message) &&
          error.message.startsWith(`line ${line}: `),
      );
    });
  }

  it('reads the signed text of a clearsigned message, undoing dash-escaping', () => {
    const signed = [
      '-----BEGIN PGP SIGNED MESSAGE-----',
      'Hash: SHA256',
      '',
      'Origin: kiln',
      '- -----not a boundary',
      '-----BEGIN PGP SIGNATURE-----',
      'abc',
      '-----END PGP SIGNATURE-----',
      '',
    ].join('\n');
    assert.equal(stripClearsign(signed), 'Origin: kiln\n-----not a boundary');
    assert.equal(stripClearsign('Origin: kiln\r\n'), 'Origin: kiln\n');
  });
});
