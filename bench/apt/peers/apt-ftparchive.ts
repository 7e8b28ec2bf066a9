import { copyFile, link, mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { requireCommand, runMeasured } from '../measured-command.ts';
import type { AptSource, RepoTool, StepUsage, ToolWork } from '../tool.ts';

/**
 * apt-ftparchive: the .debs hard-linked into a pool tree, then `generate`
 * (Packages and Packages.gz for each architecture, with its cache database),
 * `release` (with by-hash copies), and gpg for InRelease and Release.gpg.
 * Every publication scans the whole pool again; the cache saves re-reading
 * the .debs it knows. `generate` writes architecture-all packages to
 * binary-all only, which apt fetches because Release lists `all`.
 */
export function createAptFtparchive(): RepoTool {
  let work: ToolWork | undefined;
  let root = '';
  const madeDirs = new Set<string>();

  const ready = () => {
    if (work === undefined) {
      throw new Error('apt-ftparchive: setup has not run');
    }
    return work;
  };

  /** Places a .deb at pool/<component>/<prefix>/<package>/, as the Debian archive lays it out. */
  const addToPool = async (deb: string) => {
    const file = basename(deb);
    const name = file.slice(0, file.indexOf('_'));
    const prefix = name.startsWith('lib') ? name.slice(0, 4) : name.slice(0, 1);
    const dir = join(root, 'pool', ready().layout.component, prefix, name);
    if (!madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      madeDirs.add(dir);
    }
    await link(deb, join(dir, file)).catch(async (error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') {
        throw error;
      }
      await copyFile(deb, join(dir, file));
    });
  };

  const publish = async (signal: AbortSignal): Promise<StepUsage> => {
    const { dir, layout, key } = ready();
    const failOn = /^E: /m;
    const generate = await runMeasured(
      'apt-ftparchive',
      ['--no-contents', 'generate', join(dir, 'generate.conf')],
      { signal, failOn },
    );
    const suiteDir = join(root, 'dists', layout.suite);
    const release = join(dir, 'Release');
    const option = (name: string, value: string) => ['-o', `APT::FTPArchive::${name}=${value}`];
    const released = await runMeasured(
      'apt-ftparchive',
      [
        ...option('DoByHash', 'true'),
        ...option('Release::Suite', layout.suite),
        ...option('Release::Codename', layout.suite),
        ...option('Release::Components', layout.component),
        ...option('Release::Architectures', layout.architectures.join(' ')),
        'release',
        suiteDir,
      ],
      { signal, failOn, stdoutFile: release },
    );
    const gpg = (args: readonly string[]) =>
      runMeasured(
        'gpg',
        ['--batch', '--yes', '--local-user', key.fingerprint, '--digest-algo', 'SHA512', ...args],
        { signal, env: key.env },
      );
    const clearsigned = await gpg(['--clearsign', '--output', `${release}.inline`, release]);
    const detached = await gpg(['--armor', '--detach-sign', '--output', `${release}.gpg`, release]);
    // InRelease last: apt reads it first, and it must not name indices that are not there yet.
    await rename(release, join(suiteDir, 'Release'));
    await rename(`${release}.gpg`, join(suiteDir, 'Release.gpg'));
    await rename(`${release}.inline`, join(suiteDir, 'InRelease'));
    const processes = [generate, released, clearsigned, detached];
    return { peakRss: Math.max(...processes.map((p) => p.peakRss)) };
  };

  return {
    name: 'apt-ftparchive',
    summary:
      'hard links into pool/ + generate (cache db) + release (by-hash) + gpg; every step the same. ' +
      'Scans the whole pool each time; arch all in binary-all only',
    async setup(given): Promise<AptSource> {
      await requireCommand('apt-ftparchive', 'apt-utils');
      await requireCommand('gpg', 'gpg');
      work = given;
      root = join(given.dir, 'archive');
      const { layout } = given;
      const cache = join(given.dir, 'cache');
      await mkdir(cache, { recursive: true });
      for (const architecture of layout.architectures) {
        const binary = join(
          root,
          'dists',
          layout.suite,
          layout.component,
          `binary-${architecture}`,
        );
        await mkdir(binary, { recursive: true });
      }
      await writeFile(join(given.dir, 'generate.conf'), generateConfig(root, cache, given));
      return { uri: pathToFileURL(root).href, signedBy: given.key.publicKeyFile };
    },
    async fullPublish(debs, signal): Promise<StepUsage> {
      for (const deb of debs) {
        signal.throwIfAborted();
        await addToPool(deb);
      }
      return publish(signal);
    },
    async addOne(deb, signal): Promise<StepUsage> {
      await addToPool(deb);
      return publish(signal);
    },
    republish: publish,
    async cleanup() {
      work = undefined;
      madeDirs.clear();
    },
  };
}

/** apt-ftparchive(1), "Generate Configuration": one tree, uncompressed and gzip Packages. */
function generateConfig(root: string, cache: string, work: ToolWork): string {
  const { suite, component, architectures } = work.layout;
  return `Dir { ArchiveDir "${root}"; CacheDir "${cache}"; };
Default { Packages::Compress ". gzip"; };
TreeDefault {
  Directory "pool/$(SECTION)";
  Packages "$(DIST)/$(SECTION)/binary-$(ARCH)/Packages";
  BinCacheDB "packages-$(SECTION)-$(ARCH).db";
};
Tree "dists/${suite}" { Sections "${component}"; Architectures "${architectures.join(' ')}"; };
`;
}
