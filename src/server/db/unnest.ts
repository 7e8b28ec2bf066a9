import { sql, type RawBuilder } from 'kysely';

/** A column of rows sent as one array: its name, and its PostgreSQL type (`text`, `bigint`...). */
export type UnnestColumn<R> = readonly [name: keyof R & string, type: string];

/**
 * `select * from unnest($1::t1[], $2::t2[], ...)` over `rows`, one array
 * parameter a column, in the rows' order: the body of an `insert ... select`
 * (Kysely: `insertInto(t).columns(names).expression(...)`).
 *
 * Thousands of rows go as a few parameters rather than a VALUES list of
 * thousands: PostgreSQL binds and plans such a list for every statement
 * (5,000 .debs: 65 ms to bind their apt_binaries rows, against a few), and a
 * statement takes no more than 65,535 parameters.
 */
export function unnestRows<R>(
  rows: readonly R[],
  columns: readonly UnnestColumn<R>[],
): RawBuilder<Record<string, unknown>> {
  const arrays = columns.map(([name, type]) => {
    const values = rows.map((row) => row[name]);
    return sql`${values}::${sql.raw(type)}[]`;
  });
  return sql`select * from unnest(${sql.join(arrays)})`;
}

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
  return sql<Record<C, string>>`(select unnest(${values}::text[]) as ${sql.ref(column)})`.as(
    'wanted',
  );
}

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
