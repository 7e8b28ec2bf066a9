import { copyFile, link, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The downloaded packages builds on one machine share, without sharing apt's
 * archives directory itself: apt locks that directory for a whole install, so
 * two builds binding the same one fail ("Could not get lock
 * /var/cache/apt/archives/lock"). Each build gets a directory of its own,
 * seeded from the pool, and gives back what it downloaded when it ends.
 * Packages are immutable files, so hard links serve (copies across filesystems).
 */
export async function seedArchives(pool: string, dir: string): Promise<void> {
  await mkdir(join(dir, 'partial'), { recursive: true });
  await mkdir(pool, { recursive: true });
  for (const name of await listDebs(pool)) {
    await linkOrCopy(join(pool, name), join(dir, name));
  }
}

/** Adds the packages of `dir` the pool lacks, each appearing whole (renamed into place). */
export async function publishArchives(dir: string, pool: string): Promise<void> {
  const have = new Set(await listDebs(pool));
  for (const name of await listDebs(dir)) {
    if (have.has(name)) {
      continue;
    }
    const temporary = join(pool, `.${name}.${process.pid}.tmp`);
    await rm(temporary, { force: true });
    try {
      await linkOrCopy(join(dir, name), temporary);
      await rename(temporary, join(pool, name));
    } finally {
      await rm(temporary, { force: true });
    }
  }
}

async function listDebs(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((name) => name.endsWith('.deb') && !name.startsWith('.'));
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  // Across filesystems (EXDEV), or where links are not allowed: a copy.
  await link(from, to).catch(() => copyFile(from, to));
}
