/** What the benches print while they run: timed progress lines, the load, errors with causes. */
import { loadavg } from 'node:os';

const started = performance.now();

/** The 1, 5 and 15 minute load averages: figures from a loaded machine say so. */
export function formatLoad(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** A line on stdout, prefixed with the seconds since the bench started. */
export function progress(line: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stdout.write(`[${seconds} s] ${line}\n`);
}

/** An error's message, with its causes on the lines after. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) {
    return String(error);
  }
  const cause = error.cause === undefined ? '' : `\ncaused by: ${describeError(error.cause)}`;
  return `${error.message}${cause}`;
}
