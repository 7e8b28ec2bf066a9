/** How a command prints: human-readable text, or JSON for scripts (`--json`). */
export interface Output {
  readonly json: boolean;
  /** Prints a value: as JSON, or through `human` as text. */
  print<T>(value: T, human: (value: T) => string): void;
  /** A human-only remark (to stderr, so it never mixes with `--json` output). */
  note(message: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    print(value, human) {
      process.stdout.write(
        json ? `${JSON.stringify(value, null, 2)}\n` : ensureNewline(human(value)),
      );
    },
    note(message) {
      process.stderr.write(ensureNewline(message));
    },
  };
}

function ensureNewline(text: string): string {
  return text.length === 0 || text.endsWith('\n') ? text : `${text}\n`;
}

/** A plain-text table: one row per item, columns padded to fit. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [headers, ...rows.map((row) => row.map(formatCell))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) {
    return '-';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Parses a duration: `3600`, `90s`, `15m`, `12h`, `30d`, `2w` (to seconds). */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smhdw]?)$/.exec(text.trim());
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[match?.[2] ?? 'x'];
  if (match?.[1] === undefined || unit === undefined) {
    throw new Error(`${JSON.stringify(text)} is not a duration such as 3600, 15m, 12h or 30d`);
  }
  return Number(match[1]) * unit;
}
