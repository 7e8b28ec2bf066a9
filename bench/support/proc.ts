import { readdir, readFile, writeFile } from 'node:fs/promises';

// The unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100 on Linux.
const clockTicksPerSecond = 100;

/** The CPU time (user and system, all threads) a process has used so far, in seconds. */
export async function readCpuSeconds(pid: number): Promise<number> {
  return cpuSecondsIn(await readFile(`/proc/${pid}/stat`, 'utf8'));
}

/** utime + stime of a `stat` line, in seconds. */
function cpuSecondsIn(stat: string): number {
  // Fields from the third (state) on, past the command name, which may hold
  // spaces; utime and stime are the 14th and 15th (proc_pid_stat(5)).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
}

export interface Memory {
  /** VmHWM: the peak resident set size since start or since `resetPeakMemory`, in bytes. */
  readonly peak: number;
  /** VmRSS: the resident set size now, in bytes. */
  readonly current: number;
}

export async function readMemory(pid: number): Promise<Memory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kilobytes = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (match?.[1] === undefined) {
      throw new Error(`no ${field} in /proc/${pid}/status`);
    }
    return Number(match[1]) * 1024;
  };
  return { peak: kilobytes('VmHWM'), current: kilobytes('VmRSS') };
}

/** Restarts VmHWM from the current RSS (proc(5), clear_refs); false if not allowed. */
export async function resetPeakMemory(pid: number): Promise<boolean> {
  return writeFile(`/proc/${pid}/clear_refs`, '5').then(
    () => true,
    () => false,
  );
}

/** The ids of a process's children. */
export async function readChildPids(pid: number): Promise<number[]> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
  return children.trim().split(/\s+/).filter(Boolean).map(Number);
}

/** A task's name and CPU time in seconds, from its `stat` file; undefined once it has ended. */
async function statCpuSeconds(
  path: string,
): Promise<{ name: string; seconds: number } | undefined> {
  let stat: string;
  try {
    stat = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  return {
    name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    seconds: cpuSecondsIn(stat),
  };
}

/**
 * The CPU time each kind of thread of a process has used so far, in seconds,
 * by thread name (proc(5): comm), the main thread as `main`: for Node.js,
 * `V8Worker` (V8's garbage collection and compiling), `libuv-worker`
 * (zlib, crypto, file system), `WorkerThread` (worker_threads).
 */
export async function readThreadCpu(pid: number): Promise<Map<string, number>> {
  const byName = new Map<string, number>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const used = await statCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
    if (used !== undefined) {
      const name = tid === String(pid) ? 'main' : used.name;
      byName.set(name, (byName.get(name) ?? 0) + used.seconds);
    }
  }
  return byName;
}

/** The CPU time all processes named `name` (proc(5): comm) have used so far, in seconds. */
export async function readCpuSecondsOfAll(name: string): Promise<number> {
  let seconds = 0;
  for (const pid of await readdir('/proc')) {
    if (/^\d+$/.test(pid)) {
      const used = await statCpuSeconds(`/proc/${pid}/stat`);
      if (used?.name === name) {
        seconds += used.seconds;
      }
    }
  }
  return seconds;
}
