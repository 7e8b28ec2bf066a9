import type { Db } from '../db/connect.ts';
import type { FileStore } from '../files/file-store.ts';
import { endTask, requeueTask } from './task-lifecycle.ts';
import { saveTaskLog } from './task-log.ts';
import type { TaskTypeRegistry } from './task-types.ts';
import { listUnsavedLogs } from './task-log.repository.ts';
import { lockExpiredLeases, notifyPending } from './task.repository.ts';

export interface ReapResult {
  readonly requeued: number;
  readonly ended: number;
}

/**
 * Takes back the tasks whose worker stopped heartbeating: each goes back to the
 * queue for a new attempt, until it has lost `max_lost_leases` leases, when it
 * ends with result `error` (`lease-expired`). A task asked to cancel is
 * cancelled instead. Safe on several servers at once (`SKIP LOCKED`).
 */
export async function reapExpiredLeases(db: Db): Promise<ReapResult> {
  return db.transaction().execute(async (trx) => {
    let requeued = 0;
    let ended = 0;
    let woken = 0;
    for (const task of await lockExpiredLeases(trx, 200)) {
      if (task.cancel_requested) {
        woken += await endTask(trx, task, {
          state: 'cancelled',
          reason: 'cancelled',
          message: 'its worker stopped answering',
        });
        ended += 1;
      } else if (task.lost_leases >= task.max_lost_leases) {
        woken += await endTask(trx, task, {
          state: 'completed',
          result: 'error',
          reason: 'lease-expired',
          message: `its worker stopped answering ${task.lost_leases + 1} times`,
        });
        ended += 1;
      } else {
        await requeueTask(trx, task, 'lease expired', true);
        requeued += 1;
        woken += 1;
      }
    }
    await notifyPending(trx, woken);
    return { requeued, ended };
  });
}

/** Saves the logs of finished tasks that a crash left unsaved. */
export async function saveLeftoverLogs(deps: {
  readonly db: Db;
  readonly store: FileStore;
  readonly registry: TaskTypeRegistry;
}): Promise<number> {
  const ids = await listUnsavedLogs(deps.db, 20);
  for (const id of ids) {
    await saveTaskLog(deps, id);
  }
  return ids.length;
}
