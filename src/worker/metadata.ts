import { execFile } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { promisify } from 'node:util';
import type { WorkerDynamic, WorkerStatic } from '../protocol/workers.schema.ts';
import type { WorkerConfig } from './config.ts';
import { listImages } from './debian/images.ts';

const run = promisify(execFile);

/** Node's names for CPUs, in Debian's spelling. */
const debianArchitectures: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'armhf',
  ia32: 'i386',
  ppc64: 'ppc64el',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
};

/** The architecture this machine runs natively: dpkg's answer, else Node's. */
export async function detectArchitecture(): Promise<string> {
  try {
    const { stdout } = await run('dpkg', ['--print-architecture']);
    return stdout.trim();
  } catch {
    return debianArchitectures[process.arch] ?? process.arch;
  }
}

async function freeDisk(path: string): Promise<number> {
  const stats = await statfs(path);
  return stats.bavail * stats.bsize;
}

async function totalDisk(path: string): Promise<number> {
  const stats = await statfs(path);
  return stats.blocks * stats.bsize;
}

async function hasCommand(command: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

/**
 * The executors this worker offers: `host` always; `unshare` (the sandbox) when
 * it runs as root with unshare, bubblewrap and mmdebstrap installed.
 */
export async function detectExecutors(): Promise<string[]> {
  const tools = await Promise.all(['unshare', 'bwrap', 'mmdebstrap'].map(hasCommand));
  return process.getuid?.() === 0 && tools.every(Boolean) ? ['unshare', 'host'] : ['host'];
}

/** Cross targets: as configured, or those its images carry a cross toolchain for. */
async function crossArchitectures(
  config: WorkerConfig,
  natives: readonly string[],
): Promise<string[]> {
  const fromImages = (await listImages(config.imageDir))
    .filter((image) => natives.includes(image.architecture))
    .flatMap((image) => image.cross);
  return [...new Set(config.crossArchitectures ?? fromImages)].sort();
}

/** What the worker declares at enrolment. */
export async function describeWorker(config: WorkerConfig, version: string): Promise<WorkerStatic> {
  const architectures = config.architectures ?? [await detectArchitecture()];
  return {
    architectures: [...architectures],
    cross_architectures: await crossArchitectures(config, architectures),
    executors: [...(config.executors ?? (await detectExecutors()))],
    cores: availableParallelism(),
    memory: totalmem(),
    disk: await totalDisk(config.workDir),
    tags: [...config.tags],
    version,
  };
}

/** What the worker reports with each heartbeat. */
export async function measureWorker(
  config: WorkerConfig,
  natives: readonly string[],
  running: WorkerDynamic['running'],
): Promise<WorkerDynamic> {
  return {
    load: loadavg()[0] ?? 0,
    free_disk: await freeDisk(config.workDir),
    cross_architectures: await crossArchitectures(config, natives),
    ...(running === undefined ? {} : { running }),
  };
}
