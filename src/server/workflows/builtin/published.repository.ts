import type { Db } from '../../db/connect.ts';

/** A source package published in a suite: its stanza, and the artifact that holds its .dsc. */
export interface PublishedSource {
  readonly package: string;
  readonly version: string;
  readonly stanza: string;
  readonly artifactId: number | null;
  /** The versions of its binaries in the suite (for the next BinNMU suffix). */
  readonly binaryVersions: readonly string[];
}

/** The sources of a suite (one, by name, or all), with their .dsc's artifact. */
export async function listPublishedSources(
  db: Db,
  suiteId: number,
  name?: string,
): Promise<PublishedSource[]> {
  let query = db
    .selectFrom('apt_sources as s')
    .innerJoin('apt_suites as su', 'su.id', 's.suite_id')
    .select((eb) => [
      's.package',
      's.version',
      's.stanza',
      eb
        .selectFrom('apt_pool as p')
        .select('p.artifact_id')
        .whereRef('p.repository_id', '=', 'su.repository_id')
        .where((w) => w('p.path', '=', w.fn.any('s.pool_paths')))
        .where('p.path', 'like', '%.dsc')
        .limit(1)
        .as('artifact_id'),
      eb
        .selectFrom('apt_binaries as b')
        .select((b) => b.fn.agg<string[]>('array_agg', ['b.version']).as('versions'))
        .whereRef('b.suite_id', '=', 's.suite_id')
        .whereRef('b.source', '=', 's.package')
        .as('binary_versions'),
    ])
    .where('s.suite_id', '=', suiteId);
  if (name !== undefined) {
    query = query.where('s.package', '=', name);
  }
  const rows = await query.orderBy('s.package').execute();
  return rows.map((r) => ({
    package: r.package,
    version: r.version,
    stanza: r.stanza,
    artifactId: r.artifact_id,
    binaryVersions: r.binary_versions ?? [],
  }));
}

/** The names of the binary packages a source has in a suite. */
export async function listBinaryNames(db: Db, suiteId: number, source: string): Promise<string[]> {
  const rows = await db
    .selectFrom('apt_binaries')
    .select('package')
    .distinct()
    .where('suite_id', '=', suiteId)
    .where('source', '=', source)
    .execute();
  return rows.map((r) => r.package);
}
