import { linkSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** What one directory or hard link costs the file system the tools write to, in microseconds. */
export interface FileSystemSpeed {
  readonly mkdirMicros: number;
  readonly linkMicros: number;
}

/** Directories and links the probe makes: enough to average, a small fraction of a run. */
const probeCount = 2000;

/**
 * Times `mkdir` and `link` in a scratch directory under `dir`, each a
 * synchronous call (the kernel's time, not the event loop's). The peers lay
 * out pools of a directory and a file or link per package, so their full
 * steps follow these figures; kiln keeps the .debs in a few content packs.
 * On the machine kiln is measured on, apt-ftparchive's full step at 20k took
 * ~4 s on some days and 8 to 14 s on others; on one of the slow days mkdir
 * took ~160 µs.
 */
export async function probeFileSystem(dir: string, sample: string): Promise<FileSystemSpeed> {
  const scratch = await mkdtemp(join(dir, 'fs-probe-'));
  try {
    const made = performance.now();
    for (let i = 0; i < probeCount; i += 1) {
      mkdirSync(join(scratch, `d${i}`));
    }
    const linked = performance.now();
    for (let i = 0; i < probeCount; i += 1) {
      linkSync(sample, join(scratch, `d${i}`, 'sample.deb'));
    }
    const done = performance.now();
    return {
      mkdirMicros: ((linked - made) * 1000) / probeCount,
      linkMicros: ((done - linked) * 1000) / probeCount,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export function describeFileSystemSpeed(speed: FileSystemSpeed): string {
  return `mkdir ${speed.mkdirMicros.toFixed(0)} µs, hard link ${speed.linkMicros.toFixed(0)} µs`;
}
