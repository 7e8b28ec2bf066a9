/**
 * What the benchmark's corpus holds, decided by a seeded generator: the same
 * count always gives the same packages, so a corpus written once is reused
 * and a published repository can be checked against this list.
 */

export type Architecture = 'amd64' | 'arm64' | 'all';

/** One binary package of the corpus. */
export interface PackageSpec {
  readonly name: string;
  /** A Debian version (Debian Policy §5.6.12), with an epoch now and then. */
  readonly version: string;
  readonly architecture: Architecture;
  /** Other packages of the corpus, installable beside this one; empty for none. */
  readonly depends: string;
  /** Where its .deb is, relative to the corpus directory. */
  readonly file: string;
}

export interface CorpusSpec {
  readonly packages: readonly PackageSpec[];
  /** More packages, not in `packages`, each added on its own: the +1 publications. */
  readonly extras: readonly PackageSpec[];
}

/**
 * Bumped whenever the generator (here or in deb-archive.ts) writes different
 * bytes, so that a corpus written by an older one is not reused.
 */
export const generatorVersion = 2;

const syllables = [
  'al', 'bar', 'cor', 'dex', 'el', 'fin', 'gal', 'hex', 'io', 'jet', 'kor', 'lum', 'mox', 'nor',
  'ox', 'pix', 'qua', 'ray', 'sol', 'tor', 'ul', 'vex', 'wim', 'xen', 'yar', 'zed',
]; // prettier-ignore
const suffixes = ['', '', '', '+dfsg', '~rc1', '+git20240611', '+ds'];

/** +1 publications measured, one after the other: the figure is their median. */
export const addOneSamples = 3;

/** The corpus of `count` packages: 80 % amd64, 10 % arm64, 10 % all, names all distinct. */
export function describeCorpus(count: number): CorpusSpec {
  const random = createRandom(count);
  const packages: PackageSpec[] = [];
  for (let index = 0; index < count; index += 1) {
    packages.push(describePackage(index, packages, random));
  }
  const extras = Array.from({ length: addOneSamples }, (_, index) =>
    withFile(
      {
        name: `kiln-bench-extra${index + 1}`,
        version: '1.0-1',
        architecture: 'amd64' as const,
        depends: '',
      },
      'extra',
    ),
  );
  return { packages, extras };
}

function describePackage(
  index: number,
  earlier: readonly PackageSpec[],
  random: () => number,
): PackageSpec {
  // Every tenth is arm64 and every tenth all: exact shares at any count.
  const architecture: Architecture =
    index % 10 === 0 ? 'all' : index % 10 === 1 ? 'arm64' : 'amd64';
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
  const word = pick(syllables) + pick(syllables);
  const id = index.toString(36);
  const name =
    architecture === 'all'
      ? `${random() < 0.5 ? 'python3-' : ''}${word}-data-${id}`
      : random() < 0.3
        ? `lib${word}${1 + Math.floor(random() * 9)}-${id}`
        : `${word}-${id}`;
  const epoch = random() < 0.03 ? '1:' : '';
  const upstream = `${Math.floor(random() * 12)}.${Math.floor(random() * 40)}.${Math.floor(random() * 20)}`;
  const version = `${epoch}${upstream}${pick(suffixes)}-${1 + Math.floor(random() * 4)}`;
  const depends = random() < 0.4 ? describeDepends(architecture, earlier, random) : '';
  return withFile({ name, version, architecture, depends }, `debs/${Math.floor(index / 1000)}`);
}

/** One to three earlier packages that an installation of this architecture can have. */
function describeDepends(
  architecture: Architecture,
  earlier: readonly PackageSpec[],
  random: () => number,
): string {
  const relations = new Set<string>();
  const wanted = 1 + Math.floor(random() * 3);
  for (let tries = 0; tries < 6 && relations.size < wanted && earlier.length > 0; tries += 1) {
    const other = earlier[Math.floor(random() * earlier.length)];
    if (
      other === undefined ||
      !(other.architecture === 'all' || other.architecture === architecture)
    ) {
      continue;
    }
    const minimum = other.version.replace(/-[^-]+$/, '');
    relations.add(random() < 0.5 ? `${other.name} (>= ${minimum})` : other.name);
  }
  return [...relations].join(', ');
}

function withFile(spec: Omit<PackageSpec, 'file'>, folder: string): PackageSpec {
  // The file name leaves the epoch out, as dpkg-name and the archives do.
  const version = spec.version.replace(/^\d+:/, '');
  return { ...spec, file: `${folder}/${spec.name}_${version}_${spec.architecture}.deb` };
}

/** mulberry32: small, fast and good enough to vary names and versions. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
