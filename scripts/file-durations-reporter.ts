/**
 * A node:test reporter that writes one line per test file, slowest first: its
 * wall time in seconds, from the summary the runner sends when a file ends. `run-tests.ts` sends it to
 * `test-results/file-durations.txt`, to show where the suite's time goes.
 */
import { relative } from 'node:path';

interface TestEvent {
  readonly type: string;
  readonly data: {
    readonly file?: string;
    readonly duration_ms?: number;
  };
}

export default async function* fileDurations(events: AsyncIterable<TestEvent>) {
  const seconds = new Map<string, number>();
  for await (const { type, data } of events) {
    // The summary of all files together has no file.
    if (type !== 'test:summary' || data.file === undefined) {
      continue;
    }
    const file = relative(process.cwd(), data.file);
    seconds.set(file, (data.duration_ms ?? 0) / 1000);
  }
  const rows = [...seconds].sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((sum, [, s]) => sum + s, 0);
  for (const [file, s] of rows) {
    yield `${s.toFixed(1).padStart(7)} s  ${file}\n`;
  }
  yield `${total.toFixed(1).padStart(7)} s  in all (two files run at once)\n`;
}
