import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { lockFile } from './file-lock.ts';
import { withImageLock } from './images.ts';

describe('lockFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-file-lock-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lets one holder at a time in, in turn', async () => {
    const path = join(dir, 'turns.lock');
    const events: string[] = [];
    const first = await lockFile(path, AbortSignal.timeout(60_000));
    events.push('first in');
    const second = lockFile(path, AbortSignal.timeout(60_000)).then((lock) => {
      events.push('second in');
      return lock;
    });
    // Were the lock not exclusive, the second would be in while the first waits here.
    await sleep(300);
    events.push('first out');
    await first.release();
    await (await second).release();
    assert.deepEqual(events, ['first in', 'first out', 'second in']);
  });

  it('gives up waiting when its signal aborts, and the lock stays usable', async () => {
    const path = join(dir, 'abort.lock');
    const held = await lockFile(path, AbortSignal.timeout(60_000));
    const controller = new AbortController();
    const waiting = lockFile(path, controller.signal);
    controller.abort(new Error('no longer wanted'));
    await assert.rejects(waiting, /no longer wanted/);
    await held.release();
    await (await lockFile(path, AbortSignal.timeout(60_000))).release();
  });

  it('is free again once its holder dies without releasing it', async () => {
    const path = join(dir, 'crash.lock');
    // Another process takes the lock with lockFile, then is killed outright.
    const code = `import { lockFile } from ${JSON.stringify(new URL('./file-lock.ts', import.meta.url).href)};
      await lockFile(${JSON.stringify(path)}, AbortSignal.timeout(60_000));
      process.stdout.write('held\\n');
      setInterval(() => {}, 1000);`;
    const holder = spawn(process.execPath, ['--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await once(holder.stdout, 'data');
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    await (await lockFile(path, AbortSignal.timeout(60_000))).release();
  });
});

describe('withImageLock', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-image-lock-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs two builders of one image directory one after the other', async () => {
    const images = join(dir, 'images');
    const running = new Set<string>();
    const overlaps: string[] = [];
    const builder = (name: string) =>
      withImageLock(images, AbortSignal.timeout(60_000), async () => {
        if (running.size > 0) {
          overlaps.push(`${name} while ${[...running].join(', ')}`);
        }
        running.add(name);
        await sleep(200);
        running.delete(name);
        return name;
      });
    assert.deepEqual(await Promise.all([builder('a'), builder('b')]), ['a', 'b']);
    assert.deepEqual(overlaps, []);
    assert.deepEqual(await readdir(images), ['.images.lock']);
  });
});
