import cliProgress from 'cli-progress';

/** Progress of a long operation, in bytes. */
export interface Progress {
  add(bytes: number): void;
  stop(): void;
}

/**
 * A progress bar on stderr when it is a terminal; otherwise silent, so that
 * scripts reading stdout (or `--json`) are not disturbed.
 */
export function startProgress(
  label: string,
  total: number,
  enabled = process.stderr.isTTY,
): Progress {
  if (!enabled) {
    return { add() {}, stop() {} };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {done}/{size} | {rate}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let done = 0;
  const payload = () => ({
    done: formatBytes(done),
    size: formatBytes(total),
    rate: `${formatBytes(done / Math.max((Date.now() - started) / 1000, 0.001))}/s`,
  });
  bar.start(Math.max(total, 1), 0, payload());
  return {
    add(bytes: number) {
      done += bytes;
      bar.update(done, payload());
    },
    stop() {
      bar.update(Math.max(total, 1), payload());
      bar.stop();
    },
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit] ?? 'B'}`;
}
