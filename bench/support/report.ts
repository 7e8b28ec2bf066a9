/** One transfer: its rate in MB/s (10^6 bytes) and the serving process's CPU seconds. */
export interface Sample {
  readonly rate: number;
  readonly cpu: number;
}

/** The same transfer, repeated, with kiln and with nginx. */
export interface Comparison {
  readonly kiln: Sample[];
  readonly nginx: Sample[];
}

/** The kiln server's resident set sizes, in bytes. */
export interface MemoryFigures {
  /** VmHWM once started, with the workspace created: start-up's peak. */
  readonly startPeak: number;
  /** VmRSS then. */
  readonly idle: number;
  /** VmHWM of the transfers alone, when the peak could be reset after start-up. */
  readonly transferPeak: number | undefined;
  /** VmHWM over the whole run. */
  readonly peak: number;
  /** The embedded database's own process (PGlite): its VmRSS idle and VmHWM over the run. */
  readonly database?: { readonly idle: number; readonly peak: number } | undefined;
}

export interface Results {
  readonly upload: Comparison;
  readonly download: Comparison;
  /** On PostgreSQL (where the transfers are measured), and on PGlite (one of each). */
  readonly memory: { readonly postgres: MemoryFigures; readonly pglite: MemoryFigures };
}

const targets = { ratio: 0.7, peakRss: 250e6 };

/** Prints the medians beside each other, against the targets. */
export function printReport(
  results: Results,
  run: { readonly fileSize: number; readonly repetitions: number },
): void {
  const { postgres, pglite } = results.memory;
  const lines = [
    '',
    `kiln vs nginx: a ${run.fileSize}-byte file over 127.0.0.1, median of ${run.repetitions} runs (MB = 10^6 bytes)`,
    '',
    `${''.padEnd(16)}${'kiln'.padStart(10)}${'nginx'.padStart(10)}${'kiln/nginx'.padStart(12)}   target`,
    ratioRow('upload MB/s', results.upload),
    ratioRow('download MB/s', results.download),
    rssRow('peak RSS, PostgreSQL', postgres),
    rssRow('peak RSS, PGlite', pglite),
    '',
    rssLine('PostgreSQL', postgres),
    rssLine('PGlite', pglite),
    ...(pglite.database === undefined
      ? []
      : [
          `PGlite's own process (outside kiln's RSS, as postgres is): ${megabytes(pglite.database.peak)} peak, ${megabytes(pglite.database.idle)} idle`,
        ]),
    `server CPU seconds per transfer (median): upload kiln ${medianOf(results.upload.kiln, 'cpu')}, ` +
      `nginx ${medianOf(results.upload.nginx, 'cpu')}; download kiln ${medianOf(results.download.kiln, 'cpu')}, ` +
      `nginx ${medianOf(results.download.nginx, 'cpu')}`,
    'every run (MB/s):',
    runs('upload', results.upload),
    runs('download', results.download),
    '',
    'notes:',
    '  kiln hashes each upload (sha256), checks it against the declared size and digest, and',
    '  fsyncs it (file, then directory after the rename) before it answers; nginx does none of',
    '  it, and leaves the write-back to disk to the kernel, after the transfer, unmeasured.',
    '  Downloads come from the page cache on both sides: nginx with sendfile(2), kiln with',
    '  read(2) and write(2). The transfers are measured with kiln on PostgreSQL; on PGlite',
    '  the embedded database runs in a process of its own, as PostgreSQL does, whose memory',
    "  (PGlite's WebAssembly heap) is printed apart.",
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

function rssRow(name: string, memory: MemoryFigures): string {
  return [
    name.padEnd(23),
    megabytes(memory.peak).padStart(6),
    ''.padEnd(19),
    `   < ${targets.peakRss / 1e6} MB`.padEnd(19),
    verdict(memory.peak < targets.peakRss),
  ].join('');
}

function rssLine(name: string, memory: MemoryFigures): string {
  return (
    `kiln RSS on ${name}: ${megabytes(memory.startPeak)} peak at start-up, ${megabytes(memory.idle)} idle after it` +
    (memory.transferPeak === undefined
      ? ''
      : `, ${megabytes(memory.transferPeak)} peak during the transfers (${signedMegabytes(memory.transferPeak - memory.idle)})`)
  );
}

function ratioRow(name: string, comparison: Comparison): string {
  const kiln = median(comparison.kiln.map((s) => s.rate));
  const nginx = median(comparison.nginx.map((s) => s.rate));
  const ratio = kiln / nginx;
  return [
    name.padEnd(16),
    kiln.toFixed(1).padStart(10),
    nginx.toFixed(1).padStart(10),
    ratio.toFixed(2).padStart(12),
    `   ratio >= ${targets.ratio.toFixed(2)}`.padEnd(19),
    verdict(ratio >= targets.ratio),
  ].join('');
}

function runs(name: string, comparison: Comparison): string {
  const rates = (samples: readonly Sample[]) => samples.map((s) => s.rate.toFixed(1)).join(', ');
  return `  ${name}: kiln ${rates(comparison.kiln)}; nginx ${rates(comparison.nginx)}`;
}

function medianOf(samples: readonly Sample[], field: keyof Sample): string {
  return median(samples.map((s) => s[field])).toFixed(2);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function verdict(pass: boolean): string {
  return pass ? 'PASS' : 'FAIL';
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function signedMegabytes(bytes: number): string {
  return `${bytes < 0 ? '' : '+'}${megabytes(bytes)}`;
}
