import { hash } from 'node:crypto';
import { basename } from 'node:path';
import { sql } from 'kysely';
import { poolDirectory, sourcesStanza, type SourceFile } from '../../../debian/archive.ts';
import { parseDeb822, parseFileList, stripClearsign } from '../../../debian/deb822.ts';
import { compareVersions } from '../../../debian/version.ts';
import { KilnError } from '../../../protocol/errors.ts';
import type { Db } from '../../db/connect.ts';
import type { FileStore } from '../../files/file-store.ts';
import {
  includeSlice,
  isBinaryPackage,
  readInSlices,
  type Binary,
  type DebFileRef,
  type IngestReading,
  type StoredFile,
} from './binary-reading.ts';
import {
  createChunkPrebuilder,
  type ChunkPrebuilder,
  type PrebuiltChunks,
} from './chunk-prebuild.ts';
import { ensureIndices, indexKeys, type IndexIds } from './index.repository.ts';
import {
  findBinaries,
  findPoolFiles,
  findSource,
  addBinaries,
  createChunkCursor,
  insertPoolFiles,
  insertSource,
  replaceBinary,
  replaceSource,
  type ChunkCursor,
  type NewBinary,
} from './package.repository.ts';
import type { RepositoryRow, SuiteRow } from './repository.repository.ts';

/** An artifact's files as ingest reads them. */
export interface IngestArtifact {
  readonly id: number;
  readonly type: string;
  readonly files: readonly StoredFile[];
}

interface Source {
  readonly package: string;
  readonly version: string;
  readonly stanza: string;
  readonly files: readonly { path: string; sha256: string; size: number; artifactId: number }[];
}

export interface IncludeResult {
  readonly added: string[];
  readonly replaced: string[];
  /** Index chunks the include filled itself, made for the publication after it. */
  prebuilt?: PrebuiltChunks;
}

/**
 * Adds the packages in artifacts to a suite, within the transaction `db`:
 * every .deb/.udeb as a binary (its control data read once, here), every .dsc
 * with the files it names as a source (see `addPackages`). The .debs are read
 * a slice at a time, each slice added while the next is read. Refuses a
 * malformed .deb or .dsc with a clear error, which leaves the transaction to
 * roll back whatever slices were added.
 */
export async function ingestPackages(
  reading: IngestReading,
  db: Db,
  target: { repository: RepositoryRow; suite: SuiteRow; component: string; force: boolean },
  artifacts: readonly IngestArtifact[],
  sliceSize = includeSlice,
): Promise<IncludeResult> {
  const { repository, suite, component, force } = target;
  const { store } = reading;
  const debs: DebFileRef[] = artifacts.flatMap((artifact) =>
    artifact.files
      .filter((f) => isBinaryPackage(f.path))
      .map((file) => ({ artifactId: artifact.id, file })),
  );
  let sources: Source[] = [];
  for (const artifact of artifacts) {
    for (const file of artifact.files) {
      if (file.path.endsWith('.dsc')) {
        sources.push(await readSource(store, artifact, file, component));
      }
    }
  }
  if (debs.length === 0 && sources.length === 0) {
    throw new KilnError('bad_request', 'the artifacts hold no .deb, .udeb or .dsc file');
  }
  // Each slice's lookups planned for its own values: the plan PostgreSQL
  // keeps after five runs of a statement (§PREPARE) was made for a guessed
  // number of values and a suite as small as it was, and walked the whole
  // suite for each value once the suite had grown (20,000 .debs: a second
  // a slice, from the sixth).
  await sql`set local plan_cache_mode = force_custom_plan`.execute(db);
  const result: IncludeResult = { added: [], replaced: [] };
  // The component's indices, made once for every slice.
  const indices = await ensureIndices(db, suite.id, indexKeys([component], suite.architectures));
  const prebuilder = createChunkPrebuilder(component, indices);
  const chunks = createChunkCursor('apt_binaries', suite.id, component);
  const slices = readInSlices(reading, debs, sliceSize, suite, component);
  let adding: Promise<void> | undefined;
  try {
    for (let index = 0; index < slices.count; index++) {
      const binaries = await slices.read(index);
      await adding;
      const packages = { binaries, sources };
      sources = [];
      adding = addPackages(db, repository, suite, component, packages, {
        force,
        indices,
        prebuilder,
        chunks,
      }).then((added) => {
        result.added.push(...added.added);
        result.replaced.push(...added.replaced);
      });
      // Awaited before the next slice is added, or below; handled meanwhile.
      adding.catch(() => undefined);
    }
    await adding;
    result.prebuilt = await prebuilder.finish(db);
  } catch (error) {
    // The transaction rolls back after the statements in flight.
    await adding?.catch(() => undefined);
    throw error;
  }
  return result;
}

/**
 * The largest .dsc an include reads, whole, on the server's main thread: a
 * .dsc lists a few files (Debian's largest are tens of KB); hundreds of MB of
 * lines would become millions of strings there.
 */
export const maxDscSize = 1024 * 1024;

async function readSource(
  store: FileStore,
  artifact: IngestArtifact,
  file: IngestArtifact['files'][number],
  component: string,
): Promise<Source> {
  if (file.size > maxDscSize) {
    throw new KilnError(
      'bad_request',
      `${file.path} is ${file.size} bytes; kiln reads .dsc files of up to ${maxDscSize}`,
    );
  }
  const text = (await store.read(file.sha256)).toString('utf8');
  const [dsc] = (() => {
    try {
      return parseDeb822(stripClearsign(text));
    } catch (error) {
      throw new KilnError('bad_request', `${file.path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  })();
  const name = dsc?.get('Source');
  const version = dsc?.get('Version');
  if (dsc === undefined || name === undefined || version === undefined) {
    throw new KilnError(
      'bad_request',
      `${file.path} is not a source control file (no Source or Version)`,
    );
  }
  const directory = poolDirectory(component, name);
  const md5s = new Map(parseFileList(dsc.get('Files')).map((f) => [f.name, f.hash]));
  const listed = parseFileList(dsc.get('Checksums-Sha256'));
  const parts: SourceFile[] = [];
  const files: Source['files'][number][] = [];
  const dscMd5 = hash('md5', text, 'hex');
  for (const entry of [
    { name: basename(file.path), hash: file.sha256, size: file.size },
    ...listed,
  ]) {
    const stored = artifact.files.find((f) => basename(f.path) === entry.name);
    if (stored?.sha256 !== entry.hash) {
      throw new KilnError(
        'bad_request',
        `${file.path} names ${entry.name}, which artifact ${artifact.id} does not hold with that sha256`,
      );
    }
    parts.push({
      name: entry.name,
      size: stored.size,
      sha256: stored.sha256,
      md5: entry.name === basename(file.path) ? dscMd5 : (md5s.get(entry.name) ?? ''),
    });
    files.push({
      path: `${directory}/${entry.name}`,
      sha256: stored.sha256,
      size: stored.size,
      artifactId: artifact.id,
    });
  }
  return { package: name, version, stanza: sourcesStanza(dsc, directory, parts), files };
}

/**
 * Adds read packages to a suite: pool files (the same path with other content
 * is refused: a package's version is never rebuilt with other bytes), then
 * binaries and sources, replacing older versions (an older version than the
 * suite's is refused unless `force`), marking the chunks of `indices` (the
 * component's) that list them dirty.
 */
export async function addPackages(
  db: Db,
  repository: RepositoryRow,
  suite: SuiteRow,
  component: string,
  packages: { binaries: readonly Binary[]; sources: readonly Source[] },
  options: {
    force: boolean;
    indices: IndexIds;
    prebuilder?: ChunkPrebuilder;
    chunks?: ChunkCursor;
  },
): Promise<IncludeResult> {
  const { force, indices, prebuilder, chunks } = options;
  const pool = [
    ...packages.binaries.map((b) => ({
      path: b.pool_path,
      sha256: b.sha256,
      size: b.size,
      artifactId: b.artifactId,
    })),
    ...packages.sources.flatMap((s) => s.files),
  ];
  const inConflict = (path: string) =>
    new KilnError('conflict', `${path} is already in the pool with other content`);
  const wanted = new Map<string, (typeof pool)[number]>();
  for (const file of pool) {
    if ((wanted.get(file.path)?.sha256 ?? file.sha256) !== file.sha256) {
      throw inConflict(file.path);
    }
    wanted.set(file.path, file);
  }
  // Added where the pool has nothing yet, which for a large change is
  // nearly everything; the paths it has are looked up after, not all before.
  // The repository is held (see `holdForChange`): no other change adds to its pool meanwhile.
  const poolInserting = insertPoolFiles(
    db,
    [...wanted.values()].map((p) => ({
      repository_id: repository.id,
      path: p.path,
      sha256: p.sha256,
      size: p.size,
      artifact_id: p.artifactId,
    })),
  );
  // Likewise the binaries, sent before the pool's insert is answered: this
  // thread makes their statement while PostgreSQL runs the pool's. A pool
  // file in conflict fails the change after both, and the transaction rolls
  // them back. The binaries the suite has (another version) are looked up after.
  const rows = packages.binaries.map(({ artifactId: _a, sha256: _s, size: _z, ...row }) => row);
  const binariesAdding = addBinaries(db, indices, suite.id, component, rows, {
    prebuilder,
    chunks,
  });
  // Awaited below; handled meanwhile, should the pool's fail first.
  binariesAdding.catch(() => undefined);
  const inserted = await poolInserting;
  const there = [...wanted.values()].filter((f) => !inserted.has(f.path));
  const existing = await findPoolFiles(
    db,
    repository.id,
    there.map((f) => f.path),
  );
  for (const file of there) {
    if (existing.get(file.path) !== file.sha256) {
      throw inConflict(file.path);
    }
  }
  const result: IncludeResult = { added: [], replaced: [] };
  const fresh = await binariesAdding;
  const others: NewBinary[] = [];
  for (const binary of rows) {
    // Taken once: the same package twice in a change is compared with the first.
    if (fresh.delete(`${binary.package}/${binary.architecture}`)) {
      result.added.push(`${binary.package} ${binary.version} ${binary.architecture}`);
    } else {
      others.push(binary);
    }
  }
  const current = await findBinaries(db, suite.id, others);
  for (const row of others) {
    const old = current.get(`${row.component}/${row.package}/${row.architecture}`);
    const label = `${row.package} ${row.version} ${row.architecture}`;
    if (old !== undefined && old.version !== row.version) {
      if (compareVersions(row.version, old.version) < 0 && !force) {
        throw new KilnError(
          'conflict',
          `${label} is older than ${old.version} in ${suite.codename} (force to replace)`,
        );
      }
      prebuilder?.spoil(await replaceBinary(db, indices, old.id, row));
      result.replaced.push(`${label} (was ${old.version})`);
    }
  }
  for (const source of packages.sources) {
    const label = `${source.package} ${source.version} source`;
    const old = await findSource(db, suite.id, component, source.package);
    const row = {
      version: source.version,
      pool_paths: source.files.map((f) => f.path),
      stanza: source.stanza,
    };
    if (old === undefined) {
      await insertSource(
        db,
        { suite_id: suite.id, component, package: source.package, ...row },
        indices,
      );
      result.added.push(label);
    } else if (old.version !== source.version) {
      if (compareVersions(source.version, old.version) < 0 && !force) {
        throw new KilnError(
          'conflict',
          `${label} is older than ${old.version} in ${suite.codename} (force to replace)`,
        );
      }
      await replaceSource(db, indices, old.id, row);
      result.replaced.push(`${label} (was ${old.version})`);
    }
  }
  return result;
}
