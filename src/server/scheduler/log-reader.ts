import { KilnError } from '../../protocol/errors.ts';
import type { Actor } from '../auth/actor.ts';
import { findArtifactFile } from '../artifacts/artifact.repository.ts';
import type { LogFollowers } from './log-followers.ts';
import type { SchedulerDeps } from './scheduler.ts';
import { attemptSeparator, taskLogFileName } from './task-log.ts';
import { listLogChunks } from './task-log.repository.ts';
import { authorizeTask } from './task.service.ts';
import { findTask } from './task.repository.ts';

/**
 * Sends a task's log to `write` as it grows, from the start: the live chunks
 * while the task runs, then the saved log artifact (from where the chunks left
 * off) once it is saved. Returns when the task is over and its log sent
 * (without waiting for the log to be saved), or
 * when `follow` is false and what exists now is sent, or on abort.
 */
export async function streamTaskLog(
  deps: SchedulerDeps,
  followers: LogFollowers,
  actor: Actor,
  taskId: number,
  options: { readonly follow: boolean; readonly signal: AbortSignal },
  write: (text: string) => Promise<void>,
): Promise<void> {
  await authorizeTask(deps.db, actor, taskId, 'read');
  let afterSeq = 0;
  let attempt = 0;
  let sentBytes = 0;
  const send = async (text: string) => {
    sentBytes += Buffer.byteLength(text);
    await write(text);
  };
  while (!options.signal.aborted) {
    const task = await findTask(deps.db, taskId);
    if (task === undefined) {
      throw new KilnError('not_found', `task ${taskId} not found`);
    }
    if (task.log_artifact_id !== null) {
      await sendSaved(deps, task.log_artifact_id, sentBytes, write);
      return;
    }
    const chunks = await listLogChunks(deps.db, taskId, afterSeq);
    const over = task.state === 'completed' || task.state === 'cancelled';
    if (chunks.length === 0 && over) {
      // An ended task gets no more chunks. Its log may have been saved since
      // it was read, the chunks moved into the artifact: then what is left is
      // there. If it is not saved now, the chunks read were all there were,
      // and all are sent: the stream need not wait for the save.
      const saved = (await findTask(deps.db, taskId))?.log_artifact_id ?? null;
      if (saved !== null) {
        await sendSaved(deps, saved, sentBytes, write);
      }
      return;
    }
    for (const chunk of chunks) {
      await send(attemptSeparator(attempt, chunk.attempt) + chunk.data);
      attempt = chunk.attempt;
      afterSeq = chunk.seq;
    }
    if (chunks.length === 0 && !options.follow) {
      return;
    }
    if (chunks.length === 0) {
      await followers.wait(taskId, 1000, options.signal);
    }
  }
}

async function sendSaved(
  deps: SchedulerDeps,
  artifactId: number,
  skipBytes: number,
  write: (text: string) => Promise<void>,
): Promise<void> {
  const file = await findArtifactFile(deps.db, artifactId, taskLogFileName);
  if (file === undefined || skipBytes >= file.size) {
    return;
  }
  const stream = await deps.store.openRead(file.sha256, { start: skipBytes, end: file.size - 1 });
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    await write(decoder.decode(chunk as Buffer, { stream: true }));
  }
  const rest = decoder.decode();
  if (rest.length > 0) {
    await write(rest);
  }
}
