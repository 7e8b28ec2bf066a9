import type { Workload } from './kiln-workers.ts';
import { quantile, type QueueFigures } from './probes.ts';

/** Every queue's figures, in the order measured. */
export interface Results {
  readonly workload: Workload;
  readonly postgres: string;
  readonly kilnPostgres: QueueFigures | undefined;
  readonly kilnPglite: QueueFigures | undefined;
  readonly peers: readonly QueueFigures[];
}

/** The targets of issue 3. */
const targets = { pickupP99Ms: 20, throughputRatio: 1.0 } as const;
const reference = 'graphile-worker';

/** Prints the queues side by side, and kiln against its targets. */
export function printReport(results: Results): void {
  const { workload } = results;
  const baseline = results.peers.find((p) => p.name === reference);
  const rows: [string, QueueFigures | undefined][] = [
    ['kiln, PostgreSQL', results.kilnPostgres],
    ...results.peers.map((p): [string, QueueFigures] => [p.name, p]),
    ['kiln, PGlite', results.kilnPglite],
  ];
  const lines = [
    '',
    `Scheduler: ${workload.tasks} no-op tasks (throughput: first claim to last completion);`,
    `pickup: ${workload.pickupTasks} tasks, one every ${workload.pickupIntervalMs} ms to idle workers, ` +
      `submission returned to handler called (first ${workload.pickupWarmup} not counted).`,
    `PostgreSQL ${results.postgres} on 127.0.0.1, one database each; every queue in this run.`,
    '',
    [
      'queue'.padEnd(18),
      'tasks/s'.padStart(9),
      `vs ${reference}`.padStart(21),
      'pickup p50'.padStart(12),
      'p99 ms'.padStart(8),
      '   settings',
    ].join(''),
    ...rows
      .filter((row): row is [string, QueueFigures] => row[1] !== undefined)
      .map(([name, figures]) => row(name, figures, baseline)),
    '',
    'targets:',
    ...targetLines('kiln, PostgreSQL', results.kilnPostgres, baseline),
    ...targetLines('kiln, PGlite', results.kilnPglite, baseline),
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

function rate(figures: QueueFigures): number {
  return figures.tasks / figures.seconds;
}

function row(name: string, figures: QueueFigures, baseline: QueueFigures | undefined): string {
  const ratio = baseline === undefined ? '' : `${(rate(figures) / rate(baseline)).toFixed(2)}×`;
  return [
    name.padEnd(18),
    rate(figures).toFixed(0).padStart(9),
    ratio.padStart(21),
    quantile(figures.pickup, 0.5).toFixed(1).padStart(12),
    quantile(figures.pickup, 0.99).toFixed(1).padStart(8),
    `   ${figures.settings}`,
  ].join('');
}

function targetLines(
  name: string,
  figures: QueueFigures | undefined,
  baseline: QueueFigures | undefined,
): string[] {
  if (figures === undefined) {
    return [];
  }
  const p99 = quantile(figures.pickup, 0.99);
  const lines = [
    target(
      `${name}: pickup p99 <= ${targets.pickupP99Ms} ms`,
      `${p99.toFixed(1)} ms`,
      p99 <= targets.pickupP99Ms,
    ),
  ];
  if (baseline !== undefined) {
    const ratio = rate(figures) / rate(baseline);
    lines.push(
      target(
        `${name}: throughput >= ${targets.throughputRatio.toFixed(1)}× ${reference}`,
        `${ratio.toFixed(2)}×`,
        ratio >= targets.throughputRatio,
      ),
    );
  }
  return lines;
}

function target(what: string, value: string, pass: boolean): string {
  return `  ${what.padEnd(52)}${value.padStart(10)}   ${pass ? 'PASS' : 'FAIL'}`;
}
