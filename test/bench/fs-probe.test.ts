import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { describeFileSystemSpeed, probeFileSystem } from '../../bench/apt/fs-probe.ts';

describe('probeFileSystem', () => {
  it('times mkdir and link per call, and leaves nothing behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-fs-probe-'));
    try {
      const sample = join(dir, 'sample.deb');
      await writeFile(sample, 'not really a package');
      const speed = await probeFileSystem(dir, sample);
      for (const micros of [speed.mkdirMicros, speed.linkMicros]) {
        assert.ok(Number.isFinite(micros) && micros > 0, String(micros));
      }
      assert.deepEqual(await readdir(dir), ['sample.deb']);
      assert.match(describeFileSystemSpeed(speed), /^mkdir \d+ µs, hard link \d+ µs$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails, leaving nothing behind, when the sample cannot be linked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-fs-probe-'));
    try {
      await assert.rejects(probeFileSystem(dir, join(dir, 'missing.deb')), { code: 'ENOENT' });
      assert.deepEqual(await readdir(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
