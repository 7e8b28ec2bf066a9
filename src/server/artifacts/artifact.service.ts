import type {
  Artifact,
  ArtifactSummary,
  CreateArtifactBody,
  UpdateArtifactBody,
} from '../../protocol/artifacts.schema.ts';
import { KilnError } from '../../protocol/errors.ts';
import { creatorUserId, type Actor } from '../auth/actor.ts';
import type { Db } from '../db/connect.ts';
import { constraintOf, isForeignKeyViolation } from '../db/errors.ts';
import { explainUnstorableJson } from '../db/jsonb.ts';
import { authorizeWorkspace } from '../workspaces/access.ts';
import { authorizeArtifact } from './artifact-access.ts';
import { changeArtifact, type ArtifactDeps } from './artifact-change.ts';
import { checkDeclarations, declareFiles } from './artifact-files.service.ts';
import { checkRelations } from './artifact-relations.service.ts';
import { showArtifact, toSummary } from './artifact-views.ts';
import {
  deleteArtifact,
  insertArtifact,
  insertRelations,
  insertTaskArtifacts,
  listArtifactFiles,
  listArtifactsInWorkspace,
  listTaskArtifactIds,
  updateArtifact,
} from './artifact.repository.ts';

// An artifact's files, its relations, its uploads and how it is shown are in
// the artifact-*.ts files beside this one; this one makes, changes and deletes artifacts.

export async function listArtifacts(
  deps: ArtifactDeps,
  actor: Actor,
  workspace: string,
  filter: { type?: string | undefined; limit?: number | undefined; offset?: number | undefined },
): Promise<{ items: ArtifactSummary[]; total: number }> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'read');
  const { rows, total } = await listArtifactsInWorkspace(deps.db, access.workspace.id, {
    type: filter.type,
    limit: filter.limit ?? 100,
    offset: filter.offset ?? 0,
  });
  return { items: rows.map(toSummary), total };
}

/**
 * Creates an artifact with its data, declared files and relations. A declared
 * file whose content the actor can already read elsewhere is complete at once;
 * every other file waits for its upload.
 */
export async function createArtifact(
  deps: ArtifactDeps,
  actor: Actor,
  workspace: string,
  request: CreateArtifactBody,
): Promise<Artifact> {
  const access = await authorizeWorkspace(deps.db, actor, workspace, 'upload');
  const files = request.files ?? [];
  checkData(request.data);
  checkDeclarations(files, deps.maxFileSize);
  const relations = await checkRelations(deps.db, actor, request.relations ?? []);
  const expiresAt =
    request.expires_at !== undefined
      ? parseExpiry(request.expires_at)
      : access.workspace.default_expiration === null
        ? null
        : new Date(Date.now() + access.workspace.default_expiration * 1000);
  const { id, declared } = await deps.db.transaction().execute(async (trx) => {
    const row = await insertArtifact(trx, {
      workspace_id: access.workspace.id,
      type: request.type,
      data: request.data ?? {},
      created_by: creatorUserId(actor) ?? null,
      created_by_task: actor.kind === 'task' ? actor.taskId : null,
      expires_at: expiresAt,
    });
    const declared = await declareFiles(trx, actor, row.id, files);
    await insertRelations(
      trx,
      relations.map((r) => ({ artifact_id: row.id, target_id: r.target, type: r.type })),
    );
    if (actor.kind === 'task') {
      await recordTaskOutput(trx, actor.taskId, row.id);
    }
    return { id: row.id, declared };
  });
  // Its files as declared: thousands of rows need not be read back.
  return showArtifact(deps, actor, id, declared);
}

/**
 * Records an artifact as a task's output, `built-using` every input of the task
 * (debusine's rule: generated artifacts are linked to what they were made from).
 */
async function recordTaskOutput(db: Db, taskId: number, artifactId: number): Promise<void> {
  await insertTaskArtifacts(db, taskId, 'output', [artifactId]);
  const inputs = await listTaskArtifactIds(db, taskId, 'input');
  await insertRelations(
    db,
    inputs.map((target) => ({
      artifact_id: artifactId,
      target_id: target,
      type: 'built-using' as const,
    })),
  );
}

function checkData(data: Record<string, unknown> | undefined): void {
  const reason = explainUnstorableJson(data, 'data');
  if (reason !== undefined) {
    throw new KilnError('validation_failed', reason);
  }
}

function parseExpiry(value: string | null): Date | null {
  return value === null ? null : new Date(value);
}

export async function updateArtifactFields(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  request: UpdateArtifactBody,
): Promise<Artifact> {
  checkData(request.data);
  await changeArtifact(deps, actor, id, async (db) => {
    if (request.immutable === true) {
      const incomplete = (await listArtifactFiles(db, id)).filter((f) => !f.complete);
      if (incomplete.length > 0) {
        throw new KilnError(
          'incomplete_upload',
          `artifact ${id} cannot be made immutable before ${incomplete.map((f) => f.path).join(', ')} is uploaded`,
        );
      }
    }
    await updateArtifact(db, id, {
      ...(request.data === undefined ? {} : { data: request.data }),
      ...(request.expires_at === undefined ? {} : { expires_at: parseExpiry(request.expires_at) }),
      ...(request.immutable === undefined ? {} : { immutable: true }),
    });
  });
  return showArtifact(deps, actor, id);
}

/** Deletes an artifact, unless another artifact refers to it. */
export async function removeArtifact(deps: ArtifactDeps, actor: Actor, id: number): Promise<void> {
  await authorizeArtifact(deps.db, actor, id, 'delete');
  try {
    await deleteArtifact(deps.db, id);
  } catch (error) {
    if (isForeignKeyViolation(error)) {
      const inPool = constraintOf(error) === 'apt_pool_artifact_id_fkey';
      throw new KilnError(
        'artifact_in_use',
        inPool
          ? `artifact ${id} is in the pool of an APT repository (remove its packages first)`
          : `other artifacts refer to artifact ${id}`,
        { cause: error },
      );
    }
    throw error;
  }
}
