import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inBatches, requireCommand, runMeasured } from '../measured-command.ts';
import type { AptSource, RepoTool, StepUsage, ToolWork } from '../tool.ts';

/**
 * reprepro: `includedeb` in batches without exporting, then one `export`
 * (indices and signing). reprepro copies each .deb into its pool and syncs
 * its Berkeley DB files as it goes. It refuses `all` in Architectures
 * (5.3: "contains an architecture called 'all'"), so architecture-all
 * packages go into binary-amd64 and binary-arm64, and it writes no by-hash
 * files.
 */
export function createReprepro(): RepoTool {
  let work: ToolWork | undefined;
  let base = '';

  const reprepro = async (args: readonly string[], signal: AbortSignal) => {
    const { peakRss } = await runMeasured('reprepro', ['--basedir', base, ...args], {
      signal,
      env: ready().key.env,
    });
    return peakRss;
  };
  const ready = () => {
    if (work === undefined) {
      throw new Error('reprepro: setup has not run');
    }
    return work;
  };

  return {
    name: 'reprepro',
    summary:
      'includedeb in batches + export; +1: includedeb --export=changed; no-change: export. ' +
      'Copies and fsyncs each .deb; no by-hash; arch all listed in amd64 and arm64 (it refuses "all")',
    async setup(given): Promise<AptSource> {
      await requireCommand('reprepro', 'reprepro');
      work = given;
      base = join(given.dir, 'repo');
      await mkdir(join(base, 'conf'), { recursive: true });
      const { layout, key } = given;
      await writeFile(
        join(base, 'conf', 'distributions'),
        [
          `Codename: ${layout.suite}`,
          `Suite: ${layout.suite}`,
          `Components: ${layout.component}`,
          `Architectures: ${layout.architectures.filter((a) => a !== 'all').join(' ')}`,
          'DebIndices: Packages Release . .gz',
          `SignWith: ${key.fingerprint}`,
          '',
        ].join('\n'),
      );
      return { uri: pathToFileURL(base).href, signedBy: key.publicKeyFile };
    },
    async fullPublish(debs, signal): Promise<StepUsage> {
      const { suite } = ready().layout;
      let peakRss = 0;
      for (const batch of inBatches(debs)) {
        const rss = await reprepro(
          ['--export=silent-never', 'includedeb', suite, ...batch],
          signal,
        );
        peakRss = Math.max(peakRss, rss);
      }
      peakRss = Math.max(peakRss, await reprepro(['export', suite], signal));
      return { peakRss };
    },
    async addOne(deb, signal): Promise<StepUsage> {
      // reprepro's own incremental path: include, then export what changed.
      const suite = ready().layout.suite;
      return { peakRss: await reprepro(['--export=changed', 'includedeb', suite, deb], signal) };
    },
    async republish(signal): Promise<StepUsage> {
      return { peakRss: await reprepro(['export', ready().layout.suite], signal) };
    },
    async cleanup() {
      work = undefined;
    },
  };
}
