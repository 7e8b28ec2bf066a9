import type { RepositoryRow, SuiteRow } from './repository.repository.ts';

/** A file of a suite's dists/ directory as the Release file lists it. */
export interface IndexFile {
  /** Relative to dists/<codename>/. */
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  /** The stored pieces the file is the concatenation of (an index, of its chunks); absent: stored whole. */
  readonly parts?: readonly string[] | null;
}

/** RFC 2822 date in UTC, as the Debian archive writes it. */
export function releaseDate(date: Date): string {
  return date.toUTCString().replace('GMT', 'UTC');
}

/**
 * A suite's Release file (https://wiki.debian.org/DebianRepository/Format):
 * its identity, dates, `Acquire-By-Hash: yes` (clients fetch indices by their
 * hash, so a publication switching under them never mixes two), and the SHA256
 * of every index file.
 */
export function releaseText(
  repository: RepositoryRow,
  suite: SuiteRow,
  files: readonly IndexFile[],
  now: Date,
): string {
  const lines = [
    ...(repository.origin === '' ? [] : [`Origin: ${repository.origin}`]),
    ...(repository.label === '' ? [] : [`Label: ${repository.label}`]),
    `Suite: ${suite.suite}`,
    `Codename: ${suite.codename}`,
    `Date: ${releaseDate(now)}`,
    ...(repository.valid_for === null
      ? []
      : [`Valid-Until: ${releaseDate(new Date(now.getTime() + repository.valid_for * 1000))}`]),
    'Acquire-By-Hash: yes',
    `Architectures: ${suite.architectures.join(' ')}`,
    `Components: ${suite.components.join(' ')}`,
    ...(repository.description === '' ? [] : [`Description: ${repository.description}`]),
    'SHA256:',
    ...[...files]
      .sort((a, b) => a.path.localeCompare(b.path))
      .map((f) => ` ${f.sha256} ${String(f.size).padStart(16)} ${f.path}`),
  ];
  return `${lines.join('\n')}\n`;
}
