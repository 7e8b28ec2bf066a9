import { sql, type RawBuilder } from 'kysely';

/**
 * A column of rows sent as one array: its name, and its PostgreSQL type
 * (`text`, `bigint`...), or `long text` for text of hundreds of bytes a
 * value (see `unnestRows`).
 */
export type UnnestColumn<R> = readonly [name: keyof R & string, type: string];

/**
 * `select ... from unnest($1::t1[], $2::t2[], ...)` over `rows`, one array
 * parameter a column, in the rows' order: the body of an `insert ... select`
 * (Kysely: `insertInto(t).columns(names).expression(...)`).
 *
 * Thousands of rows go as a few parameters rather than a VALUES list of
 * thousands: PostgreSQL binds and plans such a list for every statement
 * (5,000 .debs: 65 ms to bind their apt_binaries rows, against a few), and a
 * statement takes no more than 65,535 parameters.
 *
 * A `long text` column goes as its values' UTF-8 end to end in one binary
 * parameter, with their lengths, not as a text array that this thread
 * escapes and PostgreSQL parses back character by character (20,000
 * Packages stanzas: 230 ms to bind, against a few). Its values may be
 * strings or their UTF-8 bytes.
 */
export function unnestRows<R>(
  rows: readonly R[],
  columns: readonly UnnestColumn<R>[],
): RawBuilder<Record<string, unknown>> {
  const arrays: RawBuilder<unknown>[] = [];
  const selected: RawBuilder<unknown>[] = [];
  for (const [index, [name, type]] of columns.entries()) {
    const values = rows.map((row) => row[name]);
    const column = sql.ref(`u.c${index}`);
    if (type !== longText) {
      arrays.push(sql`${pgArray(values)}::${sql.raw(type)}[]`);
      selected.push(column);
      continue;
    }
    const { bytes, starts, lengths } = packTexts(values as unknown as (string | Uint8Array)[]);
    arrays.push(sql`${starts}::int[]`, sql`${lengths}::int[]`);
    const length = sql.ref(`u.c${index}_length`);
    selected.push(
      sql`convert_from(substring(${bytes}::bytea from ${column} for ${length}), 'UTF8')`,
    );
  }
  const names = columns.flatMap(([, type], index) =>
    type === longText ? [`c${index}`, `c${index}_length`] : [`c${index}`],
  );
  return sql`select ${sql.join(selected)} from unnest(${sql.join(arrays)}) as u(${sql.raw(names.join(', '))})`;
}

/**
 * Texts' UTF-8 end to end, with where each starts (from 1, as `substring`
 * counts) and its length in bytes. A text may come as its UTF-8 already.
 */
function packTexts(texts: readonly (string | Uint8Array)[]): {
  bytes: Buffer;
  starts: number[];
  lengths: number[];
} {
  const lengths = texts.map((text) =>
    typeof text === 'string' ? Buffer.byteLength(text) : text.length,
  );
  const starts: number[] = [];
  let start = 1;
  for (const length of lengths) {
    starts.push(start);
    start += length;
  }
  const bytes = Buffer.allocUnsafe(start - 1);
  for (const [i, text] of texts.entries()) {
    const at = (starts[i] ?? 1) - 1;
    if (typeof text === 'string') {
      bytes.write(text, at, 'utf8');
    } else {
      bytes.set(text, at);
    }
  }
  return { bytes, starts, lengths };
}

/** The type of an `unnestRows` column of long texts. */
export const longText = 'long text';

/** The column names of `columns`, for `insertInto(t).columns(...)`. */
export function columnNames<R>(columns: readonly UnnestColumn<R>[]): (keyof R & string)[] {
  return columns.map(([name]) => name);
}

/**
 * `(select unnest($1::text[]) as column) as wanted`: values to look up as one
 * array parameter, joined, rather than a list `column in ($1, $2, ...)` bound
 * and compared one by one. Planned for each run (the include transaction sets
 * `plan_cache_mode`), PostgreSQL knows how many values there are and hashes
 * them or walks the index; a plan kept after five runs walked the whole suite
 * for each value (see `ingestPackages` in repos/apt/ingest.ts).
 */
export function unnestTexts<C extends string>(values: readonly string[], column: C) {
  return sql<
    Record<C, string>
  >`(select unnest(${pgArray(values)}::text[]) as ${sql.ref(column)})`.as('wanted');
}

/**
 * An array literal of `values` (`{"a","b\\"c",NULL}`, PostgreSQL's array
 * input syntax), to cast in SQL (`${pgArray(v)}::text[]`): one string made
 * here rather than node-postgres' own, which runs two regular expressions
 * over every element, numbers too (20,000 rows of an include: ~150 ms of
 * this thread). What an element is, PostgreSQL reads from the cast: numbers
 * and booleans go bare, strings quoted (`"` and `\\` escaped), null and
 * undefined as NULL; anything else is refused.
 */
export function pgArray(values: readonly unknown[]): string {
  let literal = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) {
      literal += ',';
    }
    if (value === null || value === undefined) {
      literal += 'NULL';
    } else if (typeof value === 'string') {
      literal += `"${needsEscape.test(value) ? value.replace(escaped, '\\$&') : value}"`;
    } else if (typeof value === 'boolean') {
      literal += value ? 't' : 'f';
    } else if (typeof value === 'number' || typeof value === 'bigint') {
      literal += String(value);
    } else {
      throw new TypeError(`pgArray: a ${typeof value} is not an array element it writes`);
    }
  }
  return `${literal}}`;
}

const needsEscape = /["\\]/;
const escaped = /["\\]/g;

/**
 * Runs `statement` over `values` a slice at a time (a statement takes at most
 * 65,535 parameters) and gathers what each returns, in order.
 */
export async function inSlices<V, R>(
  values: readonly V[],
  size: number,
  statement: (slice: V[]) => Promise<readonly R[]>,
): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < values.length; i += size) {
    results.push(...(await statement(values.slice(i, i + size))));
  }
  return results;
}
