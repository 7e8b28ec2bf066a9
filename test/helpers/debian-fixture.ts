import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface FixtureOptions {
  readonly name?: string;
  readonly version?: string;
  /** `native` (3.0 (native)) or `quilt` (3.0 (quilt), with an upstream/<version> tag). */
  readonly format?: 'native' | 'quilt';
  /** C source of the program; a syntax error makes the build fail. */
  readonly program?: string;
  /** Shell lines debian/rules runs before building (e.g. to try the network). */
  readonly beforeBuild?: string;
  readonly architecture?: string;
}

/**
 * Makes a tiny Debian package in a git repository: a C program built with
 * debhelper (so cross builds work through dh's make buildsystem). Returns the
 * repository path; the branch is `main`.
 */
export async function makeDebianFixture(
  dir: string,
  options: FixtureOptions = {},
): Promise<string> {
  const name = options.name ?? 'hello-kiln';
  const upstream = '1.0';
  const version = options.version ?? (options.format === 'quilt' ? `${upstream}-1` : upstream);
  await mkdir(join(dir, 'debian', 'source'), { recursive: true });
  const program =
    options.program ??
    '#include <stdio.h>\nint main(void) { puts("hello from kiln"); return 0; }\n';
  const files: Record<string, string> = {
    'hello.c': program,
    Makefile: [
      'all: hello',
      'hello: hello.c',
      '\t$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o hello hello.c',
      'install:',
      `\tinstall -D -m 755 hello $(DESTDIR)/usr/bin/${name}`,
      'clean:',
      '\trm -f hello',
      '',
    ].join('\n'),
  };
  const debian: Record<string, string> = {
    control: [
      `Source: ${name}`,
      'Section: devel',
      'Priority: optional',
      'Maintainer: kiln tests <kiln@localhost>',
      'Build-Depends: debhelper-compat (= 13)',
      'Standards-Version: 4.6.2',
      'Rules-Requires-Root: no',
      '',
      `Package: ${name}`,
      `Architecture: ${options.architecture ?? 'any'}`,
      'Depends: ${shlibs:Depends}, ${misc:Depends}',
      'Description: a tiny program for kiln to build',
      ' It prints a greeting.',
      '',
    ].join('\n'),
    rules: [
      '#!/usr/bin/make -f',
      '%:',
      '\tdh $@',
      ...(options.beforeBuild === undefined
        ? []
        : [
            '',
            'override_dh_auto_build:',
            ...options.beforeBuild.split('\n').map((l) => `\t${l}`),
            '\tdh_auto_build',
          ]),
      '',
    ].join('\n'),
    changelog: [
      `${name} (${version}) unstable; urgency=medium`,
      '',
      '  * A package for kiln to build.',
      '',
      ' -- kiln tests <kiln@localhost>  Mon, 23 Nov 2026 12:00:00 +0000',
      '',
    ].join('\n'),
    copyright:
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: kiln\nLicense: CC0-1.0\n',
    'source/format': options.format === 'quilt' ? '3.0 (quilt)\n' : '3.0 (native)\n',
  };
  const git = (...args: string[]) =>
    run('git', ['-c', 'user.name=kiln', '-c', 'user.email=kiln@localhost', ...args], { cwd: dir });
  await git('init', '-q', '-b', 'main');
  for (const [path, content] of Object.entries(files)) {
    await writeFile(join(dir, path), content);
  }
  if (options.format === 'quilt') {
    await git('add', '-A');
    await git('commit', '-q', '-m', 'upstream 1.0');
    await git('tag', `upstream/${upstream}`);
  }
  for (const [path, content] of Object.entries(debian)) {
    await writeFile(join(dir, 'debian', path), content);
  }
  await chmod(join(dir, 'debian', 'rules'), 0o755);
  await git('add', '-A');
  await git('commit', '-q', '-m', `${name} ${version}`);
  return dir;
}
