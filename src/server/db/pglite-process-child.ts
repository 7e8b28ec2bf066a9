/**
 * The embedded database's own process (see pglite-process.ts): opens the PGlite
 * database in the data directory given as the only argument, creating it if it
 * has none, and answers the server's requests over the IPC channel until told
 * to close or until the server goes away.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Reply, Request } from './pglite-process.ts';

const dataDir = process.argv[2];
if (dataDir === undefined || process.send === undefined) {
  process.stderr.write('usage: fork pglite-process-child.ts DATA_DIR (with an IPC channel)\n');
  process.exit(2);
}

const lockPath = `${dataDir}.lock`;
await takeLock(lockPath);
const pglite = await PGlite.create({ dataDir });
const send = (reply: Reply): void => {
  process.send?.(reply);
};

interface OpenTransaction {
  readonly tx: Transaction;
  /** Ends the transaction: true commits, false rolls back. */
  readonly decide: (commit: boolean) => void;
  /** Settles when PGlite has committed or rolled back. */
  readonly ended: Promise<unknown>;
}
const transactions = new Map<number, OpenTransaction>();
const listeners = new Map<string, () => Promise<void>>();
let nextTransaction = 1;
let closing: Promise<void> | undefined;

/** Closes PGlite (it writes its state back to the data directory) and exits. */
function close(): Promise<void> {
  closing ??= (async () => {
    for (const open of transactions.values()) {
      open.decide(false);
      await open.ended.catch(() => undefined);
    }
    if (!pglite.closed) {
      await pglite.close();
    }
    await rm(lockPath, { force: true });
  })();
  return closing;
}

/**
 * Makes this process the only one with the database open: PGlite takes no
 * lock of its own, and a server restarted at once after being killed would
 * otherwise open it while the previous child is still writing it back. Waits
 * for a live holder to finish (up to a minute); a holder that is gone (killed
 * itself) left its lock behind, which is taken over.
 */
async function takeLock(path: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw error;
      }
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (!isAlive(holder)) {
      await rm(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`the database in ${dataDir} is held by process ${holder} (${path})`);
    }
    await sleep(100);
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) {
    return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The fields of a PostgreSQL error (code, constraint, detail...) survive the trip. */
function describeError(error: unknown): { message: string; fields: Record<string, unknown> } {
  if (!(error instanceof Error)) {
    return { message: String(error), fields: {} };
  }
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (['string', 'number', 'boolean'].includes(typeof value)) {
      fields[key] = value;
    }
  }
  return { message: error.message, fields };
}

function begin(): Promise<number> {
  const id = nextTransaction;
  nextTransaction += 1;
  return new Promise<number>((started, failed) => {
    let decide: (commit: boolean) => void = () => undefined;
    const decided = new Promise<void>((commit, rollback) => {
      decide = (yes) => {
        if (yes) {
          commit();
        } else {
          rollback(new Error('rolled back'));
        }
      };
    });
    const ended = pglite
      .transaction(async (tx) => {
        transactions.set(id, { tx, decide, ended });
        started(id);
        // A rejection makes PGlite roll back; the requester learns of it from 'end'.
        await decided;
      })
      .finally(() => transactions.delete(id));
    ended.catch(failed);
  });
}

async function end(id: number, commit: boolean): Promise<void> {
  const open = transactions.get(id);
  if (open === undefined) {
    throw new Error(`no open transaction ${id}`);
  }
  open.decide(commit);
  if (commit) {
    await open.ended;
  } else {
    await open.ended.catch(() => undefined);
  }
}

async function answer(request: Request): Promise<unknown> {
  switch (request.op) {
    case 'query': {
      const target = request.tx === undefined ? pglite : transactions.get(request.tx)?.tx;
      if (target === undefined) {
        throw new Error(`no open transaction ${request.tx}`);
      }
      const { rows, affectedRows } = await target.query(request.sql, request.params, {
        rowMode: 'object',
      });
      return { rows, affectedRows };
    }
    case 'exec':
      await pglite.exec(request.sql);
      return null;
    case 'begin':
      return begin();
    case 'end':
      await end(request.tx, request.commit);
      return null;
    case 'listen':
      if (!listeners.has(request.channel)) {
        const channel = request.channel;
        listeners.set(
          channel,
          await pglite.listen(channel, (payload) => {
            send({ notification: { channel, payload } });
          }),
        );
      }
      return null;
    case 'unlisten':
      await listeners.get(request.channel)?.();
      listeners.delete(request.channel);
      return null;
    case 'close':
      await close();
      return null;
  }
}

process.on('message', (message: Request) => {
  answer(message).then(
    (result) => {
      send({ id: message.id, result });
    },
    (error: unknown) => {
      send({ id: message.id, error: describeError(error) });
    },
  );
});
// A terminal's Ctrl-C or a service manager's SIGTERM reaches the whole process
// group: the server closes the database itself, or the 'disconnect' below does.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
// The server went away (it exited or was killed): save and stop.
process.on('disconnect', () => {
  void close().finally(() => process.exit(0));
});
send({ ready: true });
