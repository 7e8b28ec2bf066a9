import type { Artifact, ArtifactFile, ArtifactSummary } from '../../protocol/artifacts.schema.ts';
import type { Actor } from '../auth/actor.ts';
import type { ArtifactFileRow } from '../db/schema.ts';
import { authorizeArtifact } from './artifact-access.ts';
import type { ArtifactDeps } from './artifact-change.ts';
import {
  listArtifactFiles,
  listVisibleRelations,
  type ArtifactWithNames,
} from './artifact.repository.ts';

/** An artifact row as the API lists it. */
export function toSummary(row: ArtifactWithNames): ArtifactSummary {
  return {
    id: row.id,
    workspace: row.workspace_name,
    type: row.type,
    immutable: row.immutable,
    created_by: row.creator,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    expires_at: row.expires_at?.toISOString() ?? null,
  };
}

/** Rows in the order of their paths' UTF-8 bytes: as listArtifactFiles sorts them. */
function inPathOrder(rows: readonly ArtifactFileRow[]): ArtifactFileRow[] {
  if (rows.every((row) => ascii.test(row.path))) {
    // ASCII's UTF-8 bytes are its UTF-16 code units: compared as strings, no
    // buffer each (2,000 .debs: 5 ms against 50 a declaration).
    return [...rows].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
  return rows
    .map((row) => ({ row, key: Buffer.from(row.path, 'utf8') }))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map(({ row }) => row);
}

const ascii = /^[\x00-\x7f]*$/;

/** An artifact file row as the API shows it. */
export function toFile(row: ArtifactFileRow): ArtifactFile {
  return { path: row.path, size: row.size, sha256: row.sha256, complete: row.complete };
}

/**
 * An artifact the actor may read, whole: its files and the relations the
 * actor can see. `files`, when the caller has just written them, are shown
 * as listing them would (in path order).
 */
export async function showArtifact(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  written?: readonly ArtifactFileRow[],
): Promise<Artifact> {
  const { artifact } = await authorizeArtifact(deps.db, actor, id, 'read');
  const files =
    written === undefined ? await listArtifactFiles(deps.db, artifact.id) : inPathOrder(written);
  const relations = await listVisibleRelations(deps.db, artifact.id, actor);
  return {
    ...toSummary(artifact),
    data: artifact.data,
    files: files.map(toFile),
    relations: relations.map((r) => ({ type: r.type, target: r.target_id })),
  };
}
