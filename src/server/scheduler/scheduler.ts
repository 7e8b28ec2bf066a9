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
  readonly wakeups: Wakeups;
  /** Seconds a lease lasts without a heartbeat. */
  readonly leaseSeconds: number;
  readonly logger: Logger;
}
