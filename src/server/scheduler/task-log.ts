import { KilnError } from '../../protocol/errors.ts';
import type { Db } from '../db/connect.ts';
import type { FileStore } from '../files/file-store.ts';
import { storeContent } from '../files/stored-content.ts';
import {
  insertArtifact,
  insertArtifactFiles,
  insertRelations,
  insertTaskArtifacts,
  listTaskArtifactIds,
} from '../artifacts/artifact.repository.ts';
import { deleteLogChunks, listLogChunks, notifyLogFollowers } from './task-log.repository.ts';
import type { TaskTypeRegistry } from './task-types.ts';
import { findTask } from './task.repository.ts';

/** The artifact type of a task's saved log. */
export const taskLogArtifactType = 'task-log';
export const taskLogFileName = 'log.txt';

/**
 * The line that separates attempts in a task's log: none before the first
 * attempt's output, one wherever a later attempt's output starts.
 */
export function attemptSeparator(previous: number, next: number): string {
  return next === previous || (previous === 0 && next === 1)
    ? ''
    : `--- kiln: attempt ${next} ---\n`;
}

/** Streams a task's whole live log, attempt by attempt, with a line where each starts. */
export async function* readWholeLog(db: Db, taskId: number): AsyncGenerator<string> {
  let after = 0;
  let attempt = 0;
  for (;;) {
    const chunks = await listLogChunks(db, taskId, after);
    if (chunks.length === 0) {
      return;
    }
    for (const chunk of chunks) {
      yield attemptSeparator(attempt, chunk.attempt) + chunk.data;
      attempt = chunk.attempt;
      after = chunk.seq;
    }
  }
}

async function* encode(texts: AsyncIterable<string>): AsyncGenerator<Buffer> {
  for await (const text of texts) {
    yield Buffer.from(text, 'utf8');
  }
}

/**
 * Saves a finished task's live log as a `task-log` artifact in its workspace
 * (`built-using` the task's inputs, like every output) and drops the chunks;
 * returns the artifact's id. Does nothing when the task has no chunks: it
 * wrote no log, or its log is saved already.
 */
export async function saveTaskLog(
  deps: { readonly db: Db; readonly store: FileStore; readonly registry: TaskTypeRegistry },
  taskId: number,
): Promise<number | undefined> {
  const { db, store } = deps;
  // Chunks first: most tasks that finish have none to save (a no-op, or saved already).
  if ((await listLogChunks(db, taskId, 0, 1)).length === 0) {
    return undefined;
  }
  const task = await findTask(db, taskId);
  if (task === undefined || task.log_artifact_id !== null) {
    return task?.log_artifact_id ?? undefined;
  }
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('tasks')
      .select('log_artifact_id')
      .where('id', '=', taskId)
      .forUpdate()
      .executeTakeFirst();
    if (current === undefined) {
      throw new KilnError('not_found', `task ${taskId} not found`);
    }
    if (current.log_artifact_id !== null) {
      return current.log_artifact_id;
    }
    const workspace = await trx
      .selectFrom('workspaces')
      .select('default_expiration')
      .where('id', '=', task.workspace_id)
      .executeTakeFirstOrThrow();
    const artifact = await insertArtifact(trx, {
      workspace_id: task.workspace_id,
      type: deps.registry.get(task.type)?.logArtifactType ?? taskLogArtifactType,
      data: { task: taskId, task_type: task.type, state: task.state, result: task.result },
      created_by: task.created_by,
      created_by_task: taskId,
      expires_at:
        workspace.default_expiration === null
          ? null
          : new Date(Date.now() + workspace.default_expiration * 1000),
    });
    const log = await storeContent(trx, store, encode(readWholeLog(trx, taskId)));
    await insertArtifactFiles(trx, [
      {
        artifact_id: artifact.id,
        path: taskLogFileName,
        sha256: log.sha256,
        size: log.size,
        complete: true,
      },
    ]);
    await insertTaskArtifacts(trx, taskId, 'output', [artifact.id]);
    const inputs = await listTaskArtifactIds(trx, taskId, 'input');
    await insertRelations(
      trx,
      inputs.map((target) => ({
        artifact_id: artifact.id,
        target_id: target,
        type: 'built-using' as const,
      })),
    );
    await trx
      .updateTable('tasks')
      .set({ log_artifact_id: artifact.id })
      .where('id', '=', taskId)
      .execute();
    await deleteLogChunks(trx, taskId);
    await notifyLogFollowers(trx, taskId);
    return artifact.id;
  });
}
