import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compileCacheDirectory } from '../../src/compile-cache.ts';
import { childEnv, runKiln } from '../helpers/processes.ts';

/** Files under `dir`, however deep; none when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return [];
    }
    throw error;
  }
}

describe("kiln keeps Node's compile cache in the user's cache directory", () => {
  let work: string;
  /** An environment without the compile cache settings this process may have. */
  const env = (extra: Record<string, string>) => {
    const base = childEnv(extra);
    if (extra['NODE_DISABLE_COMPILE_CACHE'] === undefined) {
      delete base['NODE_DISABLE_COMPILE_CACHE'];
    }
    delete base['NODE_COMPILE_CACHE'];
    return base;
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-compile-cache-'));
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('is under $XDG_CACHE_HOME/kiln, else ~/.cache/kiln', () => {
    assert.equal(
      compileCacheDirectory({ XDG_CACHE_HOME: '/srv/cache' }),
      '/srv/cache/kiln/node-compile-cache',
    );
    assert.equal(
      compileCacheDirectory({ XDG_CACHE_HOME: '' }),
      join(homedir(), '.cache', 'kiln', 'node-compile-cache'),
    );
  });

  it('a kiln command fills it, and a second one runs from it', async () => {
    const cache = join(work, 'cache');
    const first = await runKiln(['--help'], { env: env({ XDG_CACHE_HOME: cache }) });
    assert.equal(first.code, 0, first.stderr);
    const made = await filesUnder(join(cache, 'kiln', 'node-compile-cache'));
    assert.ok(made.length > 10, `compiled modules cached: ${made.length}`);
    const second = await runKiln(['--help'], { env: env({ XDG_CACHE_HOME: cache }) });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, first.stdout);
  });

  it('NODE_DISABLE_COMPILE_CACHE=1 turns it off', async () => {
    const cache = join(work, 'disabled');
    const result = await runKiln(['--help'], {
      env: env({ XDG_CACHE_HOME: cache, NODE_DISABLE_COMPILE_CACHE: '1' }),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await filesUnder(cache), []);
  });
});
