import { readFile, writeFile } from 'node:fs/promises';

// The unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100 on Linux.
const clockTicksPerSecond = 100;

/** The CPU time (user and system, all threads) a process has used so far, in seconds. */
export async function readCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
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
