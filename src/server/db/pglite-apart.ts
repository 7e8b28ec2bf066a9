import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * When `dataDir` has no PGlite database yet, creates and migrates one in a
 * child process and returns the migrations applied; otherwise does nothing
 * (an existing database is migrated in the server, as on PostgreSQL, and
 * opening it costs no more than a child would). Creating it in the server's
 * own process peaks at ~1.2 GB resident (PGlite runs initdb in a second,
 * temporary instance and copies its files over); in a child the server's
 * first start peaks at about what it keeps (measured with PGlite 0.5 on
 * Node 24 by bench:files: 1.27 GB peak before, ~0.56 GB after).
 */
export async function preparePgliteApart(dataDir: string): Promise<readonly number[]> {
  const created = await access(join(dataDir, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
  if (created) {
    return [];
  }
  const script = fileURLToPath(new URL('./pglite-apart-child.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', script, dataDir],
    { maxBuffer: 16 * 1024 * 1024 },
  ).catch((error: unknown) => {
    const { stderr } = error as { stderr?: string };
    throw new Error(
      `could not create or migrate the PGlite database in ${dataDir}: ${stderr?.trim() ?? ''}`,
      { cause: error },
    );
  });
  return JSON.parse(stdout) as number[];
}
