import type { RepositoryRow, SuiteRow } from './repository.repository.ts';

/** A file of a suite's dists/ directory as the Release file lists it. */
export interface IndexFile {
  /** Relative to dists/<codename>/. */
  readonly path: string;
  readonly sha256: string;
  /** Null only for a file of a publication made before SHA512 was listed. */
  readonly sha512: string | null;
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
 * and SHA512 of every index file.
 *
 * SHA256 is the hash every apt in use trusts (apt 1.1 and later trust none
 * weaker; MD5Sum, which Debian's archive still lists, is not listed). SHA512
 * is listed too, and apt, which fetches by the strongest hash listed, then
 * asks for by-hash/SHA512/ paths, which the server resolves as it does
 * SHA256 ones. Both are kept up to date from the last unchanged part of an
 * index (see index-hashes.ts), so a +1 hashes a chunk or two with each.
 *
 * Indices are published as Packages and Packages.gz, not .xz: an index is
 * its chunks (each compressed once, 256 stanzas), and xz -6 makes such a
 * chunk about 13% smaller than gzip -6 for about 30 times the time (125 kB
 * of stanzas: 26.5 kB in 15 ms, 22.9 kB in 440 ms, measured here while the
 * machine was loaded), which a +1 would pay on every publication.
 */
export function releaseText(
  repository: RepositoryRow,
  suite: SuiteRow,
  files: readonly IndexFile[],
  now: Date,
): string {
  const sorted = [...files].sort((a, b) => a.path.localeCompare(b.path));
  const withSha512 = sorted.filter((f) => f.sha512 !== null);
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
    ...sorted.map((f) => ` ${f.sha256} ${String(f.size).padStart(16)} ${f.path}`),
    ...(withSha512.length === 0 ? [] : ['SHA512:']),
    ...withSha512.map((f) => ` ${f.sha512} ${String(f.size).padStart(16)} ${f.path}`),
  ];
  return `${lines.join('\n')}\n`;
}
