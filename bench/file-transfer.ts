/**
 * `npm run bench:files`: a 1 GiB artifact file uploaded to and downloaded from
 * kiln over loopback, beside the same transfers with nginx (WebDAV PUT, and a
 * static GET with sendfile), and the kiln server's memory: on PostgreSQL (the
 * production setup, where the transfers are measured), then on its embedded
 * PGlite (one upload and one download). It prints the medians against the
 * targets and exits 0 whenever it could measure.
 *
 *   node bench/file-transfer.ts [--database URL]
 *
 * --database names a PostgreSQL server (default postgres://root@127.0.0.1:5432/test,
 * or KILN_BENCH_DATABASE_URL); the bench creates and drops a database of its
 * own there (kiln_bench_files).
 */
import { execFile } from 'node:child_process';
import { createHash, randomFill } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { createScratchDatabase } from './scheduler/postgres.ts';
import { curlGet, curlPut, type Transfer } from './support/curl.ts';
import { startKilnServer, type KilnServer } from './support/kiln-server.ts';
import { startNginx, type NginxServer } from './support/nginx-server.ts';
import { readChildPids, readCpuSeconds, readMemory, resetPeakMemory } from './support/proc.ts';
import {
  printReport,
  type Comparison,
  type MemoryFigures,
  type Results,
  type Sample,
} from './support/report.ts';
import { describeError, formatLoad, progress } from './support/console.ts';

const fileSize = 1024 ** 3;
const repetitions = 3;
const fileName = 'payload.bin';
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** What every measurement needs. */
interface Bench {
  readonly kiln: KilnServer;
  readonly nginx: NginxServer;
  readonly work: string;
  readonly source: string;
  readonly sha256: string;
  readonly signal: AbortSignal;
}

async function main(): Promise<void> {
  const controller = new AbortController();
  const interrupt = () => {
    controller.abort(new Error('interrupted'));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const { values } = parseArgs({ options: { database: { type: 'string' } }, strict: true });
    const serverUrl =
      values.database ??
      process.env['KILN_BENCH_DATABASE_URL'] ??
      'postgres://root@127.0.0.1:5432/test';
    printReport(await measure(serverUrl, controller.signal), { fileSize, repetitions });
  } catch (error) {
    process.stderr.write(`bench:files failed: ${describeError(error)}\n`);
    process.exitCode = controller.signal.aborted ? 130 : 1;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

/** Runs every transfer; the servers and the temporary files go away on return or error. */
async function measure(serverUrl: string, signal: AbortSignal): Promise<Results> {
  await using cleanup = new AsyncDisposableStack();
  const work = await mkdtemp(join(tmpdir(), 'kiln-bench-'));
  cleanup.defer(async () => {
    await rm(work, { recursive: true, force: true });
    progress(`removed ${work}`);
  });
  progress(`${cpus().length} CPUs, load average ${formatLoad()}`);
  progress(`writing ${fileSize} random bytes to ${work}/${fileName}`);
  const source = join(work, fileName);
  const sha256 = await writeRandomFile(source, fileSize, signal);
  const nginx = cleanup.use(await startNginx(join(work, 'nginx')));
  progress(`nginx listening at ${nginx.url} (worker pid ${nginx.workerPid})`);

  const database = cleanup.use(await createScratchDatabase(serverUrl, 'kiln_bench_files'));
  const measured = await withKiln(join(work, 'kiln-postgres'), database.url, async (kiln) => {
    const bench: Bench = { kiln, nginx, work, source, sha256, signal };
    const { upload, artifactId } = await measureUploads(bench, repetitions);
    return { upload, download: await measureDownloads(bench, artifactId, repetitions) };
  });
  const pglite = await withKiln(join(work, 'kiln-pglite'), undefined, async (kiln) => {
    const bench: Bench = { kiln, nginx, work, source, sha256, signal };
    const { artifactId } = await measureUploads(bench, 1);
    await measureDownloads(bench, artifactId, 1);
  });
  progress(`load average ${formatLoad()}`);
  return {
    upload: measured.result.upload,
    download: measured.result.download,
    memory: { postgres: measured.memory, pglite: pglite.memory },
  };
}

/**
 * Starts kiln on a fresh data directory (on PostgreSQL at `databaseUrl`, or
 * PGlite), runs `transfers` and stops it; returns their result and kiln's
 * memory throughout.
 */
async function withKiln<T>(
  dataDir: string,
  databaseUrl: string | undefined,
  transfers: (kiln: KilnServer) => Promise<T>,
): Promise<{ result: T; memory: MemoryFigures }> {
  const on = databaseUrl === undefined ? 'PGlite' : 'PostgreSQL';
  await using kiln = await startKilnServer(repoRoot, dataDir, {
    ...(databaseUrl === undefined ? {} : { databaseUrl }),
  });
  progress(`kiln serve on ${on} listening at ${kiln.url} (pid ${kiln.pid})`);
  await kiln.call('POST', '/api/v1/workspaces', { name: 'bench' });
  const atStart = await readMemory(kiln.pid);
  const peakReset = await resetPeakMemory(kiln.pid);
  progress(
    `kiln on ${on} idle: RSS ${megabytes(atStart.current)}, peak so far ${megabytes(atStart.peak)}`,
  );
  const databasePid = await findDatabaseProcess(kiln.pid);
  const databaseAtStart = databasePid === undefined ? undefined : await readMemory(databasePid);
  const result = await transfers(kiln);
  const atEnd = await readMemory(kiln.pid);
  const databaseAtEnd = databasePid === undefined ? undefined : await readMemory(databasePid);
  progress(
    `kiln on ${on} at the end: RSS ${megabytes(atEnd.current)}, peak ${megabytes(atEnd.peak)}`,
  );
  return {
    result,
    memory: {
      startPeak: atStart.peak,
      idle: atStart.current,
      transferPeak: peakReset ? atEnd.peak : undefined,
      peak: Math.max(atStart.peak, atEnd.peak),
      database:
        databaseAtStart === undefined || databaseAtEnd === undefined
          ? undefined
          : { idle: databaseAtStart.current, peak: databaseAtEnd.peak },
    },
  };
}

/** The kiln server's child that holds its embedded database (PGlite), if it has one. */
async function findDatabaseProcess(kilnPid: number): Promise<number | undefined> {
  for (const pid of await readChildPids(kilnPid)) {
    const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (command.includes('pglite-process-child')) {
      return pid;
    }
  }
  return undefined;
}

/**
 * Uploads the file to kiln, each time into a new artifact whose content kiln
 * does not have, then to nginx, each time to a path that does not exist.
 * Returns the last artifact, for the downloads.
 */
async function measureUploads(
  bench: Bench,
  runs: number,
): Promise<{ upload: Comparison; artifactId: number }> {
  const { kiln, nginx, signal } = bench;
  const samples: Comparison = { kiln: [], nginx: [] };
  const response = join(bench.work, 'response.json');
  const nginxFile = join(nginx.root, fileName);
  const octets = { 'content-type': 'application/octet-stream' };
  let artifactId = 0;
  for (let run = 1; run <= runs; run += 1) {
    if (artifactId !== 0) {
      await removeContent(kiln, artifactId);
    }
    artifactId = await declareArtifact(kiln, bench.sha256);
    const url = `${kiln.url}/api/v1/artifacts/${artifactId}/files/${fileName}`;
    const headers = { authorization: `Bearer ${kiln.token}`, ...octets };
    samples.kiln.push(
      await timed(kiln.pid, `kiln upload ${run}/${runs}`, async () => {
        const put = await curlPut(bench.source, { url, headers, output: response, signal });
        await checkUploaded(response);
        return put;
      }),
    );

    await rm(nginxFile, { force: true });
    samples.nginx.push(
      await timed(nginx.workerPid, `nginx upload ${run}/${runs}`, async () => {
        const put = await curlPut(bench.source, {
          url: `${nginx.url}/${fileName}`,
          headers: octets,
          output: response,
          signal,
        });
        if ((await stat(nginxFile)).size !== fileSize) {
          throw new Error(`nginx stored ${nginxFile} with the wrong size`);
        }
        return put;
      }),
    );
  }
  return { upload: samples, artifactId };
}

/** Downloads the last upload from each, to /dev/null, `runs` times. */
async function measureDownloads(
  bench: Bench,
  artifactId: number,
  runs: number,
): Promise<Comparison> {
  const { kiln, nginx, signal } = bench;
  const samples: Comparison = { kiln: [], nginx: [] };
  const kilnUrl = `${kiln.url}/api/v1/artifacts/${artifactId}/files/${fileName}`;
  for (let run = 1; run <= runs; run += 1) {
    samples.kiln.push(
      await timed(kiln.pid, `kiln download ${run}/${runs}`, () =>
        curlGet({
          url: kilnUrl,
          headers: { authorization: `Bearer ${kiln.token}` },
          output: '/dev/null',
          signal,
        }),
      ),
    );
    samples.nginx.push(
      await timed(nginx.workerPid, `nginx download ${run}/${runs}`, () =>
        curlGet({ url: `${nginx.url}/${fileName}`, output: '/dev/null', signal }),
      ),
    );
  }
  return samples;
}

/**
 * Runs one transfer after writing dirty pages back (so that the previous
 * transfer's write-back does not slow it), with the serving process's CPU time.
 */
async function timed(
  pid: number,
  label: string,
  transfer: () => Promise<Transfer>,
): Promise<Sample> {
  await promisify(execFile)('sync');
  const cpuBefore = await readCpuSeconds(pid);
  const result = await transfer();
  const cpu = (await readCpuSeconds(pid)) - cpuBefore;
  if (result.bytes !== fileSize) {
    throw new Error(`${label}: ${result.bytes} bytes moved, not ${fileSize}`);
  }
  const rate = result.bytes / result.seconds / 1e6;
  progress(
    `${label}: ${rate.toFixed(1)} MB/s (${result.seconds.toFixed(2)} s; server CPU ${cpu.toFixed(2)} s)`,
  );
  return { rate, cpu };
}

/** Writes `size` random bytes to a new file; returns their sha256. */
async function writeRandomFile(path: string, size: number, signal: AbortSignal): Promise<string> {
  const fill = promisify(randomFill<Buffer>);
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(8 * 1024 * 1024);
  const handle = await open(path, 'wx');
  try {
    for (let written = 0; written < size;) {
      signal.throwIfAborted();
      const chunk = buffer.subarray(0, Math.min(buffer.length, size - written));
      await fill(chunk);
      hash.update(chunk);
      await handle.write(chunk);
      written += chunk.length;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** Creates an artifact declaring the file, whose content kiln must not have yet. */
async function declareArtifact(kiln: KilnServer, sha256: string): Promise<number> {
  const artifact = (await kiln.call('POST', '/api/v1/workspaces/bench/artifacts', {
    type: 'bench',
    files: [{ path: fileName, size: fileSize, sha256 }],
  })) as { id: number; files: { complete: boolean }[] };
  if (artifact.files[0]?.complete !== false) {
    throw new Error('kiln already has the content: the upload would not write it');
  }
  return artifact.id;
}

/** Deletes the artifact and collects garbage, so that the next upload stores the content anew. */
async function removeContent(kiln: KilnServer, artifactId: number): Promise<void> {
  await kiln.call('DELETE', `/api/v1/artifacts/${artifactId}`);
  const gc = (await kiln.call('POST', '/api/v1/admin/gc')) as { files_deleted: number };
  if (gc.files_deleted < 1) {
    throw new Error('garbage collection kept the content of the deleted artifact');
  }
}

async function checkUploaded(response: string): Promise<void> {
  const file = JSON.parse(await readFile(response, 'utf8')) as { complete?: unknown };
  if (file.complete !== true) {
    throw new Error(`kiln did not complete the upload: ${JSON.stringify(file)}`);
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

await main();
