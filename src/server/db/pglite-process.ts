import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PGlite, PGliteQueryResults } from 'kysely';

/**
 * The embedded database in a process of its own, as PostgreSQL is: PGlite's
 * WebAssembly heap (~300 MB, and ~1 GB while V8 compiles it at start) stays out
 * of the server's memory, and its queries, which run synchronously, no longer
 * hold up the server's event loop. The server talks to it over an IPC channel
 * (V8 serialization, so dates, bytes and big integers arrive as they left);
 * the child closes the database cleanly when the server exits or is killed.
 */
export interface PgliteProcess extends PGlite {
  readonly pid: number;
  exec(sql: string): Promise<void>;
  listen(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>>;
}

/** What the server asks of the child... */
type Ask =
  | { readonly op: 'query'; readonly sql: string; readonly params: unknown[]; readonly tx?: number }
  | { readonly op: 'exec'; readonly sql: string }
  | { readonly op: 'begin' }
  | { readonly op: 'end'; readonly tx: number; readonly commit: boolean }
  | { readonly op: 'listen' | 'unlisten'; readonly channel: string }
  | { readonly op: 'close' };

/** ...numbered, to match the answer to it. */
export type Request = Ask & { readonly id: number };

/** What the child sends back: an answer, a notification, or that it is ready. */
export type Reply =
  | { readonly id: number; readonly result: unknown }
  | {
      readonly id: number;
      readonly error: { readonly message: string; readonly fields: Record<string, unknown> };
    }
  | { readonly notification: { readonly channel: string; readonly payload: string } }
  | { readonly ready: true };

type Pending = { resolve(value: unknown): void; reject(error: Error): void };

/**
 * Starts the child that holds the PGlite database in `dataDir` (created there
 * if missing) and resolves once it is open. `onExit` is called if the child
 * ends without having been asked to close: every query from then on fails.
 */
export async function startPgliteProcess(
  dataDir: string,
  options: { readonly onExit?: (error: Error) => void } = {},
): Promise<PgliteProcess> {
  const script = fileURLToPath(new URL('./pglite-process-child.ts', import.meta.url));
  const child = fork(script, [dataDir], {
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    execArgv: ['--disable-warning=ExperimentalWarning'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  const pending = new Map<number, Pending>();
  const handlers = new Map<string, Set<(payload: string) => void>>();
  let nextId = 1;
  let closed = false;
  let failure: Error | undefined;

  const call = (request: Ask): Promise<unknown> => {
    if (failure !== undefined) {
      return Promise.reject(failure);
    }
    const id = nextId;
    nextId += 1;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      child.send({ ...request, id });
    });
  };

  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (reply: Reply) => {
      if ('ready' in reply) {
        resolve();
      } else if ('notification' in reply) {
        const { channel, payload } = reply.notification;
        for (const handler of handlers.get(channel) ?? []) {
          handler(payload);
        }
      } else {
        const waiting = pending.get(reply.id);
        pending.delete(reply.id);
        if ('error' in reply) {
          waiting?.reject(Object.assign(new Error(reply.error.message), reply.error.fields));
        } else {
          waiting?.resolve(reply.result);
        }
      }
    });
    child.on('exit', (code, signal) => {
      const how = signal === null ? `with status ${code}` : `on ${signal}`;
      const detail = stderr.trim() === '' ? '' : `: ${stderr.trim().split('\n').at(-1)}`;
      failure = new Error(`the embedded database process (PGlite) exited ${how}${detail}`);
      reject(failure);
      for (const waiting of pending.values()) {
        waiting.reject(failure);
      }
      pending.clear();
      if (!closed) {
        options.onExit?.(failure);
      }
    });
  });
  await ready;

  // Rows are typed by whoever asks (Kysely): `never[]` fits any row type.
  const query = async (
    sql: string,
    params: readonly unknown[] = [],
    tx?: number,
  ): Promise<PGliteQueryResults<never>> => {
    const { rows, affectedRows } = (await call({
      op: 'query',
      sql,
      params: [...params],
      ...(tx === undefined ? {} : { tx }),
    })) as { rows: never[]; affectedRows?: number };
    return { rows, ...(affectedRows === undefined ? {} : { affectedRows }), fields: [] };
  };

  return {
    pid: child.pid ?? 0,
    get closed() {
      return closed;
    },
    ready: true,
    waitReady: Promise.resolve(),
    query: (sql, params) => query(sql, params),
    exec: async (sql) => {
      await call({ op: 'exec', sql });
    },
    async transaction(callback) {
      const tx = (await call({ op: 'begin' })) as number;
      let ended = false;
      const end = async (commit: boolean) => {
        if (!ended) {
          ended = true;
          await call({ op: 'end', tx, commit });
        }
      };
      try {
        const result = await callback({
          query: (sql, params) => query(sql, params, tx),
          rollback: () => end(false),
        });
        await end(true);
        return result;
      } catch (error) {
        await end(false).catch(() => undefined);
        throw error;
      }
    },
    async listen(channel, handler) {
      const set = handlers.get(channel) ?? new Set();
      handlers.set(channel, set);
      set.add(handler);
      await call({ op: 'listen', channel });
      return async () => {
        set.delete(handler);
        if (set.size === 0) {
          handlers.delete(channel);
          await call({ op: 'unlisten', channel }).catch(() => undefined);
        }
      };
    },
    async close() {
      if (closed) {
        return;
      }
      closed = true;
      if (child.exitCode !== null || child.signalCode !== null) {
        return;
      }
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await call({ op: 'close' }).catch(() => undefined);
      if (child.connected) {
        child.disconnect();
      }
      await exited;
    },
  };
}
