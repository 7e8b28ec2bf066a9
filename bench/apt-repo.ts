/**
 * `npm run bench:apt`: publishing a signed APT repository of 20,000 generated
 * packages (and 100,000 with `--large`) with reprepro, aptly, apt-ftparchive
 * and kiln: full ingest + publish, +1 package, and a republish with no
 * change, each checked with a real `apt-get update`. Each tool runs several
 * rounds, every round from a fresh repository, the tools taking turns within
 * a round so that the machine's drift in speed falls on all of them alike;
 * the figures are the medians over the rounds. It prints them side by side
 * with kiln's targets, and exits 0 whenever it could measure.
 *
 *   node bench/apt-repo.ts [--large] [--count N] [--rounds N] [--timeout SECONDS] [--tools a,b] [--keep]
 *
 * --count measures one other size instead (a quick look: --count 2000);
 * --rounds sets the rounds for every size (default 3 up to 20,000 packages,
 * 1 above, where one round of a tool takes minutes); --timeout caps each step
 * (default 300 s per 20,000 packages); --tools runs only the named tools;
 * --keep leaves the repositories under bench/out/.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultCorpusDir, ensureCorpus } from './apt/corpus.ts';
import { describeFileSystemSpeed, probeFileSystem } from './apt/fs-probe.ts';
import { createGpgKey } from './apt/gpg-key.ts';
import { printSizeReport, type SizeResults } from './apt/report.ts';
import { mergeRounds } from './apt/rounds.ts';
import { runTool, type ToolRun } from './apt/run-tool.ts';
import type { RepoLayout, RepoTool } from './apt/tool.ts';
import { kilnTool, peerTools } from './apt/tools.ts';
import { describeError, formatLoad, progress } from './support/console.ts';

const layout: RepoLayout = {
  suite: 'bench',
  component: 'main',
  architectures: ['amd64', 'arm64', 'all'],
};
const outDir = fileURLToPath(new URL('out', import.meta.url));

interface Options {
  readonly counts: readonly number[];
  /** Seconds per step per 20,000 packages, unless --timeout gave a fixed cap. */
  readonly timeoutSeconds: (count: number) => number;
  /** Rounds of every tool at this size, unless --rounds gave one number for all. */
  readonly rounds: (count: number) => number;
  readonly only: ReadonlySet<string> | undefined;
  readonly keep: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      large: { type: 'boolean', default: false },
      count: { type: 'string' },
      timeout: { type: 'string' },
      rounds: { type: 'string' },
      tools: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const count = values.count === undefined ? undefined : Number(values.count);
  if (count !== undefined && !(Number.isSafeInteger(count) && count > 0)) {
    throw new Error(`--count must be a positive integer, not ${values.count ?? ''}`);
  }
  const fixed = values.timeout === undefined ? undefined : Number(values.timeout);
  if (fixed !== undefined && !(fixed > 0)) {
    throw new Error(`--timeout must be a positive number of seconds, not ${values.timeout ?? ''}`);
  }
  const rounds = values.rounds === undefined ? undefined : Number(values.rounds);
  if (rounds !== undefined && !(Number.isSafeInteger(rounds) && rounds > 0)) {
    throw new Error(`--rounds must be a positive integer, not ${values.rounds ?? ''}`);
  }
  return {
    counts: count !== undefined ? [count] : values.large ? [20_000, 100_000] : [20_000],
    timeoutSeconds: (count) => fixed ?? Math.ceil((300 * count) / 20_000),
    rounds: (count) => rounds ?? (count <= 20_000 ? 3 : 1),
    only: values.tools === undefined ? undefined : new Set(values.tools.split(',')),
    keep: values.keep,
  };
}

async function main(): Promise<void> {
  const controller = new AbortController();
  const interrupt = () => {
    controller.abort(new Error('interrupted'));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const options = parseOptions();
    for (const count of options.counts) {
      printSizeReport(await measureSize(count, options, controller.signal));
    }
  } catch (error) {
    process.stderr.write(`bench:apt failed: ${describeError(error)}\n`);
    process.exitCode = controller.signal.aborted ? 130 : 1;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

/** Every tool over the corpus of `count` packages; the run's key and repositories go away after. */
async function measureSize(
  count: number,
  options: Options,
  signal: AbortSignal,
): Promise<SizeResults> {
  await using cleanup = new AsyncDisposableStack();
  progress(`${cpus().length} CPUs, load average ${formatLoad()}`);
  await mkdir(join(outDir, 'apt-corpus'), { recursive: true });
  const { corpus, reused } = await ensureCorpus(
    defaultCorpusDir(count),
    count,
    (written, total) => {
      progress(`corpus: ${written}/${total} .debs written`);
    },
  );
  progress(`corpus: ${reused ? 'reusing' : 'wrote'} ${count} .debs in ${corpus.dir}`);

  // Under bench/out/, beside the corpus: on the same file system, so tools can hard-link.
  const work = await mkdtemp(join(outDir, `apt-run-${count}-`));
  cleanup.defer(async () => {
    if (!options.keep) {
      await rm(work, { recursive: true, force: true });
      progress(`removed ${work}`);
    }
  });
  const sample = corpus.packages[0];
  if (sample === undefined) {
    throw new Error('the corpus is empty');
  }
  const probe = async (when: string) => {
    const speed = await probeFileSystem(work, corpus.pathOf(sample));
    progress(`file system ${when}: ${describeFileSystemSpeed(speed)}`);
    return speed;
  };
  const fileSystemBefore = await probe('before');
  const key = cleanup.use(await createGpgKey(work, signal));
  progress(`signing key ed25519 ${key.fingerprint} in ${key.gnupgHome}`);

  const timeoutSeconds = options.timeoutSeconds(count);
  const peers = peerTools.map(createEntrant);
  const kiln = kilnTool === undefined ? undefined : createEntrant(kilnTool);
  const all = kiln === undefined ? peers : [...peers, kiln];
  const unknown = [...(options.only ?? [])].filter((name) => !all.some((t) => t.name === name));
  if (unknown.length > 0) {
    const known = all.map((t) => t.name).join(', ');
    throw new Error(`--tools: no tool named ${unknown.join(', ')} (known: ${known})`);
  }
  const wanted = (entrant: Entrant) => options.only === undefined || options.only.has(entrant.name);
  const roundCount = options.rounds(count);
  // Round by round, every tool in each: the machine's drift falls on all tools alike.
  for (let round = 1; round <= roundCount; round += 1) {
    progress(`round ${round} of ${roundCount}, load average ${formatLoad()}`);
    for (const entrant of all.filter(wanted)) {
      if (entrant.rounds.some((run) => run.kind === 'unavailable')) {
        continue;
      }
      entrant.rounds.push(
        await runTool(entrant.create(), {
          corpus,
          layout,
          key,
          dir: join(work, `${entrant.name}-round${round}`),
          keep: options.keep,
          stepTimeoutSeconds: timeoutSeconds,
          signal,
          progress,
        }),
      );
    }
  }
  progress(`load average ${formatLoad()}`);
  const fileSystemAfter = await probe('after');
  return {
    count,
    fileSystem: [fileSystemBefore, fileSystemAfter],
    runs: peers.filter(wanted).map((peer) => mergeRounds(peer.rounds)),
    kiln: kiln !== undefined && wanted(kiln) ? mergeRounds(kiln.rounds) : undefined,
    stepTimeoutSeconds: timeoutSeconds,
    rounds: roundCount,
  };
}

/** A tool and its rounds so far; each round runs a new instance, so nothing carries over. */
interface Entrant {
  readonly name: string;
  readonly create: () => RepoTool;
  readonly rounds: ToolRun[];
}

function createEntrant(create: () => RepoTool): Entrant {
  return { name: create().name, create, rounds: [] };
}

await main();
