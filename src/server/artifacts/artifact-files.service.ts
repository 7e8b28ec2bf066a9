import type { ArtifactFile, FileDeclaration } from '../../protocol/artifacts.schema.ts';
import { KilnError } from '../../protocol/errors.ts';
import { assertFileName } from '../../protocol/file-names.ts';
import type { Actor } from '../auth/actor.ts';
import type { Db } from '../db/connect.ts';
import type { ArtifactFileRow } from '../db/schema.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { authorizeArtifact } from './artifact-access.ts';
import { changeArtifact, type ArtifactDeps } from './artifact-change.ts';
import { toFile } from './artifact-views.ts';
import {
  deleteArtifactFile,
  findArtifactFile,
  insertArtifactFiles,
  lockContentReadableBy,
  touchArtifact,
} from './artifact.repository.ts';

/** Checks declared files: good names, each once, none larger than the server takes. */
export function checkDeclarations(files: readonly FileDeclaration[], maxFileSize: number): void {
  const seen = new Set<string>();
  for (const file of files) {
    assertFileName(file.path);
    if (seen.has(file.path)) {
      throw new KilnError('invalid_file_name', `${JSON.stringify(file.path)} is declared twice`);
    }
    seen.add(file.path);
    if (file.size > maxFileSize) {
      throw new KilnError(
        'too_large',
        `${file.path} is ${file.size} bytes; this server takes files up to ${maxFileSize} bytes`,
      );
    }
  }
}

/**
 * Records declared files of an artifact. One whose content the actor can
 * already read elsewhere is complete at once (its size must match); every
 * other waits for its upload.
 */
export async function declareFiles(
  db: Db,
  actor: Actor,
  artifactId: number,
  files: readonly FileDeclaration[],
): Promise<ArtifactFileRow[]> {
  const known = await lockContentReadableBy(
    db,
    actor,
    files.map((f) => f.sha256),
  );
  for (const file of files) {
    const size = known.get(file.sha256);
    if (size !== undefined && size !== file.size) {
      throw new KilnError(
        'size_mismatch',
        `${file.path}: content ${file.sha256} is ${size} bytes, not ${file.size}`,
      );
    }
  }
  const rows = files.map((f) => ({
    artifact_id: artifactId,
    path: f.path,
    sha256: f.sha256,
    size: f.size,
    complete: known.has(f.sha256),
  }));
  await insertArtifactFiles(db, rows);
  return rows;
}

export async function attachFile(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  file: FileDeclaration,
): Promise<ArtifactFile> {
  checkDeclarations([file], deps.maxFileSize);
  await changeArtifact(deps, actor, id, async (db) => {
    const exists = new KilnError('already_exists', `artifact ${id} already has ${file.path}`);
    if ((await findArtifactFile(db, id, file.path)) !== undefined) {
      throw exists;
    }
    await declareFiles(db, actor, id, [file]).catch((error: unknown) => {
      throw isUniqueViolation(error) ? exists : error;
    });
    await touchArtifact(db, id);
  });
  const row = await findArtifactFile(deps.db, id, file.path);
  if (row === undefined) {
    throw new KilnError('not_found', `artifact ${id} has no file ${file.path}`);
  }
  return toFile(row);
}

export async function detachFile(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  path: string,
): Promise<void> {
  await changeArtifact(deps, actor, id, async (db) => {
    if (!(await deleteArtifactFile(db, id, path))) {
      throw new KilnError('not_found', `artifact ${id} has no file ${path}`);
    }
    await touchArtifact(db, id);
  });
}

/** Finds a complete file of an artifact the actor may read, for download. */
export async function findDownloadableFile(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  path: string,
): Promise<ArtifactFile> {
  await authorizeArtifact(deps.db, actor, id, 'read');
  const file = await findArtifactFile(deps.db, id, path);
  if (file === undefined) {
    throw new KilnError('not_found', `artifact ${id} has no file ${path}`);
  }
  if (!file.complete) {
    throw new KilnError('incomplete_upload', `${path} of artifact ${id} is not uploaded yet`);
  }
  return toFile(file);
}
