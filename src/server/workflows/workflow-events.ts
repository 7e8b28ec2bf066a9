import type { Logger } from 'pino';
import type { RunEvent } from '../../protocol/workflows.schema.ts';
import type { OpenDatabase } from '../db/connect.ts';
import { toRunEvent } from './run-view.ts';
import { findEvent, workflowEventChannel } from './workflow.repository.ts';

/** Hears the events of runs and their tasks as they are committed. */
export interface WorkflowEvents {
  /**
   * Calls `listener` with each new event (run started or ended, a task of a
   * run ended) on every server replica; returns the unsubscribe function.
   * Delivery is at most once per replica and in-memory: a consumer that must
   * not miss one reads `listEventsAfter` from its last seen id as well.
   */
  subscribe(listener: (event: RunEvent) => void): () => void;
  close(): Promise<void>;
}

export async function createWorkflowEvents(
  database: OpenDatabase,
  logger: Logger,
): Promise<WorkflowEvents> {
  const listeners = new Set<(event: RunEvent) => void>();
  // One read at a time, so that listeners hear events in the order they were sent.
  let chain = Promise.resolve();
  const stop = await database.listen(workflowEventChannel, (payload) => {
    if (listeners.size === 0) {
      return;
    }
    chain = chain
      .then(() => findEvent(database.db, Number(payload)))
      .then((row) => {
        if (row === undefined) {
          return;
        }
        const event = toRunEvent(row);
        for (const listener of listeners) {
          try {
            listener(event);
          } catch (error) {
            logger.error({ err: error, event: event.id }, 'workflow event listener failed');
          }
        }
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'reading a workflow event failed');
      });
  });
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    close: stop,
  };
}
