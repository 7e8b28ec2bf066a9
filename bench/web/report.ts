/** The figures of one backend: milliseconds per request, the page's and its peer's. */
export interface Figures {
  readonly backend: string;
  readonly tasks: number;
  readonly requests: number;
  readonly pageSize: number;
  readonly page: { readonly server: number[]; readonly client: number[] };
  readonly api: { readonly server: number[]; readonly client: number[] };
}

const targetP99 = 50;

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

const ms = (n: number) => `${n.toFixed(1)} ms`.padStart(10);

/** Prints p50 / p99 of the page and the API side by side, against the target. */
export function printReport(all: readonly Figures[]): void {
  const lines = [''];
  for (const f of all) {
    lines.push(
      `task list with ${f.tasks} tasks in the database (${f.pageSize} a page, offsets 0 to ${Math.min(10_000, f.tasks) - f.pageSize}), ${f.requests} requests each, ${f.backend}:`,
      `${''.padEnd(22)}${'server p50'.padStart(10)}${'server p99'.padStart(12)}${'client p50'.padStart(12)}${'client p99'.padStart(12)}   target`,
    );
    for (const [label, samples, target] of [
      ['web page (HTML)', f.page, true],
      ['JSON API (peer)', f.api, false],
    ] as const) {
      const p99 = percentile(samples.server, 99);
      lines.push(
        `${label.padEnd(22)}${ms(percentile(samples.server, 50))}  ${ms(p99)}  ${ms(percentile(samples.client, 50))}  ${ms(percentile(samples.client, 99))}   ` +
          (target ? `p99 <= ${targetP99} ms: ${p99 <= targetP99 ? 'PASS' : 'FAIL'}` : ''),
      );
    }
    lines.push('');
  }
  lines.push(
    "server: Fastify's elapsed time for the request, from the server's request log;",
    'client: the round trip over 127.0.0.1 to the last byte, from an in-process client.',
    'Both call the same service (listTasks: access check, page, total count).',
    '',
  );
  process.stdout.write(lines.join('\n'));
}
