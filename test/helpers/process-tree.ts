import { readdir, readFile } from 'node:fs/promises';
import { waitUntil } from './waits.ts';

/** One live process as /proc shows it (proc(5): /proc/PID/stat). */
export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  /** Its process group and session. */
  readonly pgid: number;
  readonly sid: number;
  readonly command: string;
}

/**
 * The live processes of this machine, read from /proc. Zombies (state Z) are
 * left out: they have ended, only their exit status waits to be collected.
 */
export async function listProcesses(): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    let stat: string;
    try {
      stat = await readFile(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // it ended while we looked
    }
    // "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
    const close = stat.lastIndexOf(')');
    const [state, ppid, pgid, sid] = stat.slice(close + 2).split(' ');
    if (state === 'Z' || state === 'X') {
      continue;
    }
    found.push({
      pid: Number(entry),
      ppid: Number(ppid),
      pgid: Number(pgid),
      sid: Number(sid),
      command: stat.slice(stat.indexOf('(') + 1, close),
    });
  }
  return found;
}

/** Every live descendant of `pid` (children, their children, ...). */
export async function listDescendants(pid: number): Promise<ProcessInfo[]> {
  const all = await listProcesses();
  const found: ProcessInfo[] = [];
  let parents = new Set([pid]);
  while (parents.size > 0) {
    const children = all.filter((p) => parents.has(p.ppid));
    found.push(...children);
    parents = new Set(children.map((p) => p.pid));
  }
  return found;
}

/** The live members of process group `pgid`. */
export async function listGroupMembers(pgid: number): Promise<ProcessInfo[]> {
  return (await listProcesses()).filter((p) => p.pgid === pgid);
}

/**
 * The process groups that a worker's tasks run in: a worker starts each task
 * as the leader of a new session and group, so these are the groups of its
 * descendants other than its own.
 */
export async function listTaskGroups(workerPid: number): Promise<number[]> {
  const own = (await listProcesses()).find((p) => p.pid === workerPid)?.pgid;
  const groups = new Set(
    (await listDescendants(workerPid)).map((p) => p.pgid).filter((g) => g !== own),
  );
  return [...groups];
}

/**
 * SIGKILLs process group `pgid` if it is still a task group: its members are
 * in the session it leads (so a recycled id of someone else's group is left alone).
 */
export async function killTaskGroup(pgid: number): Promise<void> {
  const members = await listGroupMembers(pgid);
  if (members.length > 0 && members.every((p) => p.sid === pgid)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // It ended meanwhile.
    }
  }
}

/**
 * Waits (bounded) until no live process is left in group `pgid`: a killed
 * process dies a moment after the signal is sent.
 */
export async function waitForGroupGone(pgid: number, timeoutMs = 15_000): Promise<void> {
  let left: ProcessInfo[] = [];
  await waitUntil(
    `process group ${pgid} to be gone`,
    async () => {
      left = await listGroupMembers(pgid);
      return left.length === 0 || undefined;
    },
    { timeoutMs, describe: () => JSON.stringify(left) },
  );
}
