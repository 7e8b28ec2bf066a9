import type { Logger } from 'pino';
import type { Db } from '../db/connect.ts';
import type { FileStore } from '../files/file-store.ts';
import type { TaskTypeRegistry } from './task-types.ts';
import type { Wakeups } from './wakeups.ts';

/** What the scheduler's operations need from the composition root. */
export interface SchedulerDeps {
  readonly db: Db;
  readonly store: FileStore;
  readonly registry: TaskTypeRegistry;
  /** Wake-ups of the claimers waiting for tasks, workers' and this server's apart. */
  readonly wakeups: Readonly<Record<'worker' | 'server', Wakeups>>;
  /** Seconds a lease lasts without a heartbeat. */
  readonly leaseSeconds: number;
  readonly logger: Logger;
}
