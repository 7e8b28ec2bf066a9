import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { sql } from 'kysely';
import { pgArray, unnestRows, unnestTexts } from '../../src/server/db/unnest.ts';
import { forEachDatabase } from '../helpers/databases.ts';
import { openEmptyDatabase } from '../helpers/schemas.ts';

/** Texts an array literal has to quote or escape: its own syntax, NULL, white space, other scripts. */
const awkward = [
  '',
  'NULL',
  'null',
  ' spaced ',
  'a,b',
  '{braces}',
  'quote " inside',
  'back\\slash',
  '\\"',
  'trailing\\',
  'tab\tnewline\n',
  'Zoë 中文 🚀',
];

forEachDatabase((backend) => {
  it('pgArray: PostgreSQL reads back every text, number, boolean and null as given', async () => {
    const database = await openEmptyDatabase(backend);
    try {
      const { db } = database;
      const texts = [...awkward, null];
      const { rows } = await sql<{
        texts: (string | null)[];
        big: string[];
        flags: boolean[];
        empty: string[];
      }>`select ${pgArray(texts)}::text[] as texts,
          ${pgArray([0, -1, 9007199254740991, 1234567890123456789n])}::bigint[]::text[] as big,
          ${pgArray([true, false])}::boolean[] as flags,
          ${pgArray([])}::text[] as empty`.execute(db);
      assert.deepEqual(rows[0], {
        texts,
        big: ['0', '-1', '9007199254740991', '1234567890123456789'],
        flags: [true, false],
        empty: [],
      });
      // Any string (no NUL: PostgreSQL's texts have none).
      const text = fc.string({ unit: 'grapheme', maxLength: 12 }).map((t) => t.replace(/\0/g, ''));
      await fc.assert(
        fc.asyncProperty(fc.array(fc.option(text), { maxLength: 8 }), async (values) => {
          const back = await sql<{
            a: (string | null)[];
          }>`select ${pgArray(values)}::text[] as a`.execute(db);
          assert.deepEqual(back.rows[0]?.a, values);
        }),
        { numRuns: 60 },
      );
    } finally {
      await database.close();
    }
  });

  it('unnestRows and unnestTexts give the rows and texts as given, in order', async () => {
    const database = await openEmptyDatabase(backend);
    try {
      const { db } = database;
      const rows = awkward.map((name, i) => ({ id: i, name, flag: i % 2 === 0, note: name }));
      // The body of an insert: its columns in order, whatever their names.
      const back = await sql<Record<string, unknown>>`${unnestRows(rows, [
        ['id', 'bigint'],
        ['name', 'text'],
        ['flag', 'boolean'],
        ['note', 'long text'],
      ])}`.execute(db);
      assert.deepEqual(
        back.rows.map((r) => Object.values(r).map((v) => (typeof v === 'boolean' ? v : String(v)))),
        rows.map((r) => [String(r.id), r.name, r.flag, r.note]),
      );
      const texts = await db.selectFrom(unnestTexts(awkward, 'value')).select('value').execute();
      assert.deepEqual(
        texts.map((t) => t.value),
        awkward,
      );
    } finally {
      await database.close();
    }
  });
});

it('pgArray refuses what it would write wrongly', () => {
  assert.throws(() => pgArray([new Date(0)]), /pgArray: a object is not an array element/);
});
