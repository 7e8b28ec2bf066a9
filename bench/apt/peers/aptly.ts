import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inBatches, requireCommand, runMeasured } from '../measured-command.ts';
import type { AptSource, RepoTool, StepUsage, ToolWork } from '../tool.ts';

const repoName = 'bench';

/**
 * aptly: `repo add` in batches, then `publish repo` (gz only, no Contents,
 * by-hash, signed by gpg), and `publish update` after a change. aptly
 * hard-links the .debs into its pool when it can, and lists architecture-all
 * packages in binary-all and in each binary architecture.
 */
export function createAptly(): RepoTool {
  let work: ToolWork | undefined;
  let config = '';
  let publicDir = '';

  const ready = () => {
    if (work === undefined) {
      throw new Error('aptly: setup has not run');
    }
    return work;
  };
  const aptly = async (args: readonly string[], signal: AbortSignal) => {
    const { peakRss } = await runMeasured('aptly', [`-config=${config}`, ...args], {
      signal,
      env: ready().key.env,
    });
    return peakRss;
  };
  /** What every publication passes: the key, and no bzip2 or Contents indices (the others make neither). */
  const publishFlags = () => [
    '-batch',
    `-gpg-key=${ready().key.fingerprint}`,
    '-skip-bz2',
    '-skip-contents',
  ];
  const update = (signal: AbortSignal) =>
    aptly(['publish', 'update', ...publishFlags(), ready().layout.suite], signal);

  return {
    name: 'aptly',
    summary:
      'repo add in batches + publish repo -acquire-by-hash; +1: repo add + publish update; ' +
      'no-change: publish update. Hard-links the .debs; arch all in binary-all and in each architecture',
    async setup(given): Promise<AptSource> {
      await requireCommand('aptly', 'aptly');
      work = given;
      const root = join(given.dir, 'aptly');
      publicDir = join(root, 'public');
      config = join(given.dir, 'aptly.conf');
      await mkdir(root, { recursive: true });
      await writeFile(
        config,
        JSON.stringify({
          rootDir: root,
          architectures: [],
          gpgProvider: 'gpg',
          skipContentsPublishing: true,
          FileSystemPublishEndpoints: {},
          S3PublishEndpoints: {},
          SwiftPublishEndpoints: {},
        }),
      );
      const { layout } = given;
      await aptly(
        [
          'repo',
          'create',
          `-distribution=${layout.suite}`,
          `-component=${layout.component}`,
          repoName,
        ],
        given.signal,
      );
      return { uri: pathToFileURL(publicDir).href, signedBy: given.key.publicKeyFile };
    },
    async fullPublish(debs, signal): Promise<StepUsage> {
      const { layout } = ready();
      let peakRss = 0;
      for (const batch of inBatches(debs)) {
        peakRss = Math.max(peakRss, await aptly(['repo', 'add', repoName, ...batch], signal));
      }
      const publish = [
        'publish',
        'repo',
        ...publishFlags(),
        '-acquire-by-hash',
        `-architectures=${layout.architectures.join(',')}`,
        `-distribution=${layout.suite}`,
        `-component=${layout.component}`,
        repoName,
      ];
      peakRss = Math.max(peakRss, await aptly(publish, signal));
      return { peakRss };
    },
    async addOne(deb, signal): Promise<StepUsage> {
      const added = await aptly(['repo', 'add', repoName, deb], signal);
      return { peakRss: Math.max(added, await update(signal)) };
    },
    async republish(signal): Promise<StepUsage> {
      return { peakRss: await update(signal) };
    },
    async cleanup() {
      work = undefined;
    },
  };
}
