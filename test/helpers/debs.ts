/**
 * Small binary packages built by dpkg-deb, for tests of repositories: a
 * control file, one file of content, nothing else.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface DebSpec {
  readonly name: string;
  readonly version: string;
  readonly architecture: string;
  readonly depends?: string;
  /** What the package's one file says; differs between builds of one version when set. */
  readonly content?: string;
  /** dpkg-deb's compression of the data member (its default, xz, unless given). */
  readonly compression?: 'none' | 'gzip' | 'xz';
}

/** Builds `<name>_<version>_<architecture>.deb` in `dir`; returns its path. */
export async function buildDeb(dir: string, spec: DebSpec): Promise<string> {
  const tree = join(dir, `tree-${spec.name}-${spec.version}-${spec.architecture}`);
  await rm(tree, { recursive: true, force: true });
  await mkdir(join(tree, 'DEBIAN'), { recursive: true });
  const docs = join(tree, 'usr', 'share', 'doc', spec.name);
  await mkdir(docs, { recursive: true });
  await writeFile(join(docs, 'hello'), spec.content ?? `${spec.name} ${spec.version}\n`);
  const control = [
    `Package: ${spec.name}`,
    `Version: ${spec.version}`,
    `Architecture: ${spec.architecture}`,
    'Maintainer: Kiln Tests <tests@example.org>',
    ...(spec.depends === undefined ? [] : [`Depends: ${spec.depends}`]),
    `Description: ${spec.name} for tests`,
    ' A package that only carries a file.',
    '',
  ].join('\n');
  await writeFile(join(tree, 'DEBIAN', 'control'), control);
  const deb = join(dir, `${spec.name}_${spec.version}_${spec.architecture}.deb`);
  const compression = spec.compression === undefined ? [] : [`-Z${spec.compression}`];
  await run('dpkg-deb', ['--root-owner-group', ...compression, '--build', tree, deb], {
    maxBuffer: 16 * 1024 * 1024,
  });
  await rm(tree, { recursive: true });
  return deb;
}

/**
 * Builds a native source package (`3.0 (native)`) with dpkg-source in `dir`:
 * `<name>_<version>.dsc` and `<name>_<version>.tar.xz`, whose one file says
 * `content`. Returns their paths, the .dsc first.
 */
export async function buildSourcePackage(
  dir: string,
  spec: { readonly name: string; readonly version: string; readonly content: string },
): Promise<string[]> {
  const { name, version } = spec;
  const tree = join(dir, `${name}-${version}`);
  await rm(tree, { recursive: true, force: true });
  await mkdir(join(tree, 'debian', 'source'), { recursive: true });
  await writeFile(join(tree, 'README'), spec.content);
  await writeFile(join(tree, 'debian', 'source', 'format'), '3.0 (native)\n');
  await writeFile(
    join(tree, 'debian', 'control'),
    [
      `Source: ${name}`,
      'Section: misc',
      'Priority: optional',
      'Maintainer: Kiln Tests <tests@example.org>',
      'Standards-Version: 4.6.2',
      '',
      `Package: ${name}`,
      'Architecture: all',
      `Description: ${name} for tests`,
      ' A source package built by dpkg-source.',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(tree, 'debian', 'changelog'),
    `${name} (${version}) unstable; urgency=medium\n\n  * For tests.\n\n -- Kiln Tests <tests@example.org>  Sun, 06 Dec 2026 12:00:00 +0000\n`,
  );
  await writeFile(join(tree, 'debian', 'rules'), '#!/usr/bin/make -f\n%:\n\tdh $@\n', {
    mode: 0o755,
  });
  await run('dpkg-source', ['--build', `${name}-${version}`], { cwd: dir });
  return [join(dir, `${name}_${version}.dsc`), join(dir, `${name}_${version}.tar.xz`)];
}
