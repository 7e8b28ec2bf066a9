import { Readable } from 'node:stream';
import {
  relationTypes,
  type Artifact,
  type ArtifactFile,
  type ArtifactSummary,
  type CreateArtifactBody,
  type FileDeclaration,
  type RelationBody,
  type UpdateArtifactBody,
} from '../../protocol/artifacts.schema.ts';
import { KilnError } from '../../protocol/errors.ts';
import { assertFileName } from '../../protocol/file-names.ts';
import { creatorUserId, type Actor } from '../auth/actor.ts';
import type { Db } from '../db/connect.ts';
import { isForeignKeyViolation, isUniqueViolation } from '../db/errors.ts';
import { explainUnstorableJson } from '../db/jsonb.ts';
import type { ArtifactFileRow } from '../db/schema.ts';
import type { FileStore, StagedFile } from '../files/file-store.ts';
import { readParts } from '../files/stream-parts.ts';
import { authorizeWorkspace } from '../workspaces/access.ts';
import { authorizeArtifact, immutable } from './artifact-access.ts';
import {
  deleteArtifact,
  deleteArtifactFile,
  deleteRelation,
  findArtifactFile,
  findVisibleArtifactIds,
  insertArtifact,
  insertArtifactFiles,
  insertFileRow,
  insertFileRows,
  insertRelations,
  insertTaskArtifacts,
  listArtifactFiles,
  listTaskArtifactIds,
  listArtifactsInWorkspace,
  listVisibleRelations,
  lockArtifact,
  lockContentReadableBy,
  markContentComplete,
  markContentsComplete,
  touchArtifact,
  updateArtifact,
  type ArtifactWithNames,
  type RelationType,
} from './artifact.repository.ts';

/** What the artifact operations need from the composition root. */
export interface ArtifactDeps {
  readonly db: Db;
  readonly store: FileStore;
  readonly maxFileSize: number;
}

function toSummary(row: ArtifactWithNames): ArtifactSummary {
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

function toFile(row: ArtifactFileRow): ArtifactFile {
  return { path: row.path, size: row.size, sha256: row.sha256, complete: row.complete };
}

export async function showArtifact(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
): Promise<Artifact> {
  const { artifact } = await authorizeArtifact(deps.db, actor, id, 'read');
  return describe(deps.db, actor, artifact);
}

async function describe(db: Db, actor: Actor, artifact: ArtifactWithNames): Promise<Artifact> {
  const files = await listArtifactFiles(db, artifact.id);
  const relations = await listVisibleRelations(db, artifact.id, actor);
  return {
    ...toSummary(artifact),
    data: artifact.data,
    files: files.map(toFile),
    relations: relations.map((r) => ({ type: r.type, target: r.target_id })),
  };
}

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
  const id = await deps.db.transaction().execute(async (trx) => {
    const row = await insertArtifact(trx, {
      workspace_id: access.workspace.id,
      type: request.type,
      data: request.data ?? {},
      created_by: creatorUserId(actor) ?? null,
      created_by_task: actor.kind === 'task' ? actor.taskId : null,
      expires_at: expiresAt,
    });
    await declareFiles(trx, actor, row.id, files);
    await insertRelations(
      trx,
      relations.map((r) => ({ artifact_id: row.id, target_id: r.target, type: r.type })),
    );
    if (actor.kind === 'task') {
      await recordTaskOutput(trx, actor.taskId, row.id);
    }
    return row.id;
  });
  return showArtifact(deps, actor, id);
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

function checkDeclarations(files: readonly FileDeclaration[], maxFileSize: number): void {
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

async function declareFiles(
  db: Db,
  actor: Actor,
  artifactId: number,
  files: readonly FileDeclaration[],
): Promise<void> {
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
  await insertArtifactFiles(
    db,
    files.map((f) => ({
      artifact_id: artifactId,
      path: f.path,
      sha256: f.sha256,
      size: f.size,
      complete: known.has(f.sha256),
    })),
  );
}

interface CheckedRelation {
  readonly type: RelationType;
  readonly target: number;
}

async function checkRelations(
  db: Db,
  actor: Actor,
  relations: readonly RelationBody[],
): Promise<CheckedRelation[]> {
  const checked = relations.map((r) => ({ type: checkRelationType(r.type), target: r.target }));
  const visible = await findVisibleArtifactIds(
    db,
    actor,
    checked.map((r) => r.target),
  );
  for (const relation of checked) {
    if (!visible.has(relation.target)) {
      throw new KilnError('not_found', `artifact ${relation.target} not found`);
    }
  }
  return checked;
}

function checkRelationType(type: string): RelationType {
  const known = relationTypes.find((t) => t === type);
  if (known === undefined) {
    throw new KilnError(
      'invalid_relation_type',
      `${JSON.stringify(type)} is not a relation type (${relationTypes.join(', ')})`,
    );
  }
  return known;
}

function parseExpiry(value: string | null): Date | null {
  return value === null ? null : new Date(value);
}

/**
 * Runs `change` on an artifact the actor may change, in a transaction holding
 * the artifact's row lock, so that no change slips past a concurrent "make
 * immutable" or delete.
 */
async function changeArtifact<T>(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  change: (db: Db) => Promise<T>,
): Promise<T> {
  await authorizeArtifact(deps.db, actor, id, 'change');
  return deps.db.transaction().execute(async (trx) => {
    const locked = await lockArtifact(trx, id);
    if (locked === undefined) {
      throw new KilnError('not_found', `artifact ${id} not found`);
    }
    if (locked.immutable) {
      throw immutable(id);
    }
    return change(trx);
  });
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

/**
 * Receives the content of a declared file: streamed to the file store's staging
 * area, hashed on the way, checked against the declared size and sha256, and
 * only then committed. A failed upload leaves nothing behind.
 */
export async function uploadFile(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  path: string,
  body: Readable,
  options: { contentLength?: number | undefined; signal?: AbortSignal | undefined },
): Promise<ArtifactFile> {
  await authorizeArtifact(deps.db, actor, id, 'change');
  const declared = await findArtifactFile(deps.db, id, path);
  if (declared === undefined) {
    throw new KilnError('not_found', `artifact ${id} has no file ${path}: declare it first`);
  }
  if (declared.complete) {
    return toFile(declared);
  }
  if (options.contentLength !== undefined && options.contentLength !== declared.size) {
    throw new KilnError(
      'size_mismatch',
      `${path} is declared as ${declared.size} bytes but ${options.contentLength} are being sent`,
    );
  }
  const staged = await deps.store
    .stage(body, { maxSize: declared.size, signal: options.signal })
    .catch((error: unknown) => {
      throw error instanceof KilnError && error.code === 'too_large'
        ? new KilnError(
            'size_mismatch',
            `${path} is longer than its declared ${declared.size} bytes`,
          )
        : error;
    });
  try {
    if (staged.size !== declared.size) {
      throw new KilnError(
        'size_mismatch',
        `${path} is declared as ${declared.size} bytes but ${staged.size} were received`,
      );
    }
    if (staged.sha256 !== declared.sha256) {
      throw new KilnError(
        'sha256_mismatch',
        `${path} is declared with sha256 ${declared.sha256} but the content's is ${staged.sha256}`,
      );
    }
    await changeArtifact(deps, actor, id, async (db) => {
      const current = await findArtifactFile(db, id, path);
      if (current?.sha256 !== staged.sha256) {
        throw new KilnError('conflict', `${path} of artifact ${id} changed during the upload`);
      }
      if (await insertFileRow(db, staged.sha256, staged.size)) {
        await staged.commit();
      }
      await markContentComplete(db, id, staged.sha256);
      await touchArtifact(db, id);
    });
  } finally {
    await staged.discard();
  }
  return { ...toFile(declared), complete: true };
}

/** Parts up to this size are read into memory, so that several are written at once. */
const smallPartBytes = 1024 * 1024;
const writesInFlight = 8;

/**
 * Receives the contents of all of an artifact's incomplete files in one
 * request (many small files, a .deb per package say): each distinct content
 * once, in the order the artifact lists its files, one after the other. Each
 * is checked against its declared size and sha256 like a single upload; the
 * batch is made durable with one sync and recorded in one transaction. A
 * failed batch leaves nothing behind. Returns the files, now complete.
 */
export async function uploadContents(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  body: Readable,
  options: { contentLength?: number | undefined },
): Promise<ArtifactFile[]> {
  await authorizeArtifact(deps.db, actor, id, 'change');
  const seen = new Set<string>();
  const expected = (await listArtifactFiles(deps.db, id)).filter((f) => {
    const first = !seen.has(f.sha256);
    seen.add(f.sha256);
    return first && !f.complete;
  });
  const total = expected.reduce((sum, f) => sum + f.size, 0);
  if (options.contentLength !== undefined && options.contentLength !== total) {
    throw new KilnError(
      'size_mismatch',
      `artifact ${id} waits for ${expected.length} contents of ${total} bytes in all, but ${options.contentLength} are being sent`,
    );
  }
  const staged: StagedFile[] = [];
  const writing = new Set<Promise<void>>();
  const stage = async (index: number, content: AsyncIterable<Buffer> | Iterable<Buffer>) => {
    const file = expected[index];
    if (file === undefined) {
      return;
    }
    const done = await deps.store.stage(Readable.from(content), {
      maxSize: file.size,
      deferSync: true,
    });
    staged.push(done);
    if (done.size !== file.size || done.sha256 !== file.sha256) {
      throw new KilnError(
        done.size === file.size ? 'sha256_mismatch' : 'size_mismatch',
        `${file.path} is declared with ${file.size} bytes and sha256 ${file.sha256}, but ${done.size} bytes with sha256 ${done.sha256} were received`,
      );
    }
  };
  try {
    await readParts(
      body,
      expected.map((f) => f.size),
      async (index, part) => {
        if ((expected[index]?.size ?? 0) > smallPartBytes) {
          await stage(index, part);
          return;
        }
        // Small: read now, write while the next ones arrive.
        const chunks: Buffer[] = [];
        for await (const chunk of part) {
          chunks.push(chunk);
        }
        while (writing.size >= writesInFlight) {
          await Promise.race(writing);
        }
        const write: Promise<void> = stage(index, [Buffer.concat(chunks)]).finally(() => {
          writing.delete(write);
        });
        writing.add(write);
      },
    );
    await Promise.all(writing);
    await changeArtifact(deps, actor, id, async (db) => {
      const current = new Map((await listArtifactFiles(db, id)).map((f) => [f.path, f.sha256]));
      if (expected.some((f) => current.get(f.path) !== f.sha256)) {
        throw new KilnError('conflict', `the files of artifact ${id} changed during the upload`);
      }
      const added = await insertFileRows(
        db,
        staged.map((f) => ({ sha256: f.sha256, size: f.size })),
      );
      const commits = staged.filter((f) => added.has(f.sha256));
      for (let i = 0; i < commits.length; i += writesInFlight) {
        await Promise.all(commits.slice(i, i + writesInFlight).map((f) => f.commit()));
      }
      await deps.store.sync(commits.map((f) => f.sha256));
      await markContentsComplete(
        db,
        id,
        expected.map((f) => f.sha256),
      );
      await touchArtifact(db, id);
    });
  } finally {
    await Promise.allSettled(writing);
    await Promise.all(staged.map((f) => f.discard()));
  }
  return (await listArtifactFiles(deps.db, id)).map(toFile);
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

export async function addRelation(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  relation: RelationBody,
): Promise<Artifact> {
  if (relation.target === id) {
    throw new KilnError('bad_request', `artifact ${id} cannot relate to itself`);
  }
  const [checked] = await checkRelations(deps.db, actor, [relation]);
  await changeArtifact(deps, actor, id, async (db) => {
    if (checked !== undefined) {
      await insertRelations(db, [
        { artifact_id: id, target_id: checked.target, type: checked.type },
      ]);
      await touchArtifact(db, id);
    }
  });
  return showArtifact(deps, actor, id);
}

export async function removeRelation(
  deps: ArtifactDeps,
  actor: Actor,
  id: number,
  relation: RelationBody,
): Promise<void> {
  const type = checkRelationType(relation.type);
  await changeArtifact(deps, actor, id, async (db) => {
    if (!(await deleteRelation(db, { artifact_id: id, target_id: relation.target, type }))) {
      throw new KilnError(
        'not_found',
        `artifact ${id} has no ${type} relation to ${relation.target}`,
      );
    }
    await touchArtifact(db, id);
  });
}

/** Deletes an artifact, unless another artifact refers to it. */
export async function removeArtifact(deps: ArtifactDeps, actor: Actor, id: number): Promise<void> {
  await authorizeArtifact(deps.db, actor, id, 'delete');
  try {
    await deleteArtifact(deps.db, id);
  } catch (error) {
    if (isForeignKeyViolation(error)) {
      throw new KilnError('artifact_in_use', `other artifacts refer to artifact ${id}`, {
        cause: error,
      });
    }
    throw error;
  }
}
