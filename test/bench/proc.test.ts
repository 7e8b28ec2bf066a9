import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { readCpuSecondsOfAll, readThreadCpu } from '../../bench/support/proc.ts';

/** Keeps this thread busy until it has used `ms` of CPU time (at most 20 s of wall time). */
function burn(ms: number): void {
  const cpuMs = () => {
    const { user, system } = process.threadCpuUsage();
    return (user + system) / 1000;
  };
  const until = cpuMs() + ms;
  const deadline = performance.now() + 20_000;
  while (cpuMs() < until && performance.now() < deadline) {
    // Busy on purpose.
  }
}

describe('readThreadCpu', () => {
  it("counts the main thread's and a worker thread's CPU time under their names", async () => {
    const before = await readThreadCpu(process.pid);
    burn(300);
    // Busy until it has used 100 ms of CPU; then it waits to be ended.
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const cpuMs = () => { const u = process.threadCpuUsage(); return (u.user + u.system) / 1000; };
       const until = cpuMs() + 100;
       while (cpuMs() < until) {}
       parentPort.postMessage('busy');
       setInterval(() => {}, 1000);`,
      { eval: true },
    );
    // Read while the worker still runs: an ended thread's time leaves the listing.
    await once(worker, 'message');
    const during = await readThreadCpu(process.pid);
    await worker.terminate();
    const main = (during.get('main') ?? 0) - (before.get('main') ?? 0);
    assert.ok(main >= 0.25, `main thread: ${main} s`);
    const worked = during.get('WorkerThread') ?? 0;
    assert.ok(worked >= 0.05, `worker threads: ${worked} s of ${[...during.keys()].join(', ')}`);
    assert.ok(!during.has(String(process.pid)), 'the main thread is named main');
  });
});

describe('readCpuSecondsOfAll', () => {
  it('sums the CPU time of every process of a name, and of none for an unknown one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-proc-'));
    try {
      // A busy process of a name nothing else has: a shell copied under another name.
      const name = `kilnburn${process.pid % 10000}`;
      const busy = join(dir, name);
      await copyFile('/bin/sh', busy);
      const before = await readCpuSecondsOfAll(name);
      assert.equal(before, 0);
      const child = spawn(busy, ['-c', 'while :; do :; done']);
      try {
        let used = 0;
        for (let tries = 0; tries < 300 && used < 0.2; tries++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          used = await readCpuSecondsOfAll(name);
        }
        assert.ok(used >= 0.2, `${name}: ${used} s`);
        assert.equal(await readCpuSecondsOfAll(`${name}-none`), 0);
      } finally {
        child.kill('SIGKILL');
        await once(child, 'close');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
