import { mkdir } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { collectGarbage } from './artifacts/gc.ts';
import { bootstrapAdmin } from './auth/auth.service.ts';
import { ConfigError, parseServerConfig, serverOptionsHelp, type ServerConfig } from './config.ts';
import { openDatabase, type DatabaseLocation, type OpenDatabase } from './db/connect.ts';
import { migrateDatabase } from './db/migrate.ts';
import { upkeepTables } from './db/upkeep.ts';
import { createFsFileStore } from './files/fs-file-store.ts';
import { createSecretBox } from './auth/secret-box.ts';
import { createApp } from './http/app.ts';
import { createTriggerRuns } from './triggers/trigger-runs.ts';
import { startWebhookSender } from './notifications/webhook-sender.ts';
import { webhookChannel } from './notifications/webhook.repository.ts';
import type { App } from './http/types.ts';
import { saveLeftoverLogs, reapExpiredLeases } from './scheduler/lease-reaper.ts';
import { createLogFollowers } from './scheduler/log-followers.ts';
import type { SchedulerDeps } from './scheduler/scheduler.ts';
import { startServerRunner } from './scheduler/server-runner.ts';
import { builtinTaskTypes, createTaskTypeRegistry, type TaskType } from './scheduler/task-types.ts';
import { parsePendingPayload, taskPendingChannel } from './scheduler/task.repository.ts';
import { createWakeups } from './scheduler/wakeups.ts';
import { createOpenPgpSigner } from './signer/openpgp-signer.ts';
import { loadOrCreatePassphrase } from './signer/passphrase-file.ts';
import type { Signer } from './signer/signer.ts';
import { createAptTaskTypes } from './repos/apt/apt-tasks.ts';
import { createDebReaders } from './repos/apt/deb-readers.ts';
import { createIndexHashCache } from './repos/apt/index-hashes.ts';
import { kilnVersion } from './version.ts';
import { deleteExpiredSessions } from './web/session.repository.ts';
import { builtinWorkflows } from './workflows/builtin-workflows.ts';
import { startWorkflowEngine } from './workflows/engine.ts';
import { createWorkflowEvents, type WorkflowEvents } from './workflows/workflow-events.ts';
import { createWorkflowTypeRegistry } from './workflows/workflow-types.ts';
import type { WorkflowDeps } from './workflows/workflow.service.ts';

/** A started server. */
export interface RunningServer {
  readonly url: string;
  readonly app: App;
  readonly database: OpenDatabase;
  /** Makes and holds the repositories' signing keys; signs with them. */
  readonly signer: Signer;
  /** The first admin's token, when this start created the instance. */
  readonly adminToken: string | undefined;
  /** What the workflow services (startWorkflowRun...) take. */
  readonly workflows: WorkflowDeps;
  /** The events of runs and their tasks, as they are committed. */
  readonly workflowEvents: WorkflowEvents;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
  /** An already-open database (tests); otherwise the config's is opened. */
  readonly database?: OpenDatabase;
  /** The task types this server knows (default: the built-in ones). */
  readonly taskTypes?: readonly TaskType[];
  /** .debs an APT include reads and adds at a time (tests make it small). */
  readonly aptIncludeSlice?: number;
  /** Up to how many .debs an include reads itself, not in its reading threads (tests make it 0). */
  readonly aptReadHereUpTo?: number;
}

/** Runs `work` every `intervalMs`, one run at a time, until stopped. */
function startPeriodic(
  logger: Logger,
  name: string,
  intervalMs: number,
  work: () => Promise<void>,
) {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= work()
      .catch((error: unknown) => {
        logger.error({ err: error }, `${name} failed`);
      })
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * The composition root: opens the database and migrates it, opens the file
 * store and the signer, builds the HTTP app and starts listening and
 * collecting garbage.
 */
export async function startServer(
  config: ServerConfig,
  options: StartOptions = {},
): Promise<RunningServer> {
  const logger = options.logger ?? pino({ level: config.logLevel });
  // Say at once that the address is taken, not after creating a database.
  await probeAddress(config);
  await mkdir(config.dataDir, { recursive: true });
  const location = databaseLocation(config);
  const database =
    options.database ??
    (await openDatabase(location, {
      // The embedded database's process is gone: nothing can be served any more.
      onExit: (error) => {
        logger.fatal({ err: error }, 'database lost');
        process.exit(1);
      },
    }));
  try {
    const applied = await migrateDatabase(database);
    if (applied.length > 0) {
      logger.info({ migrations: applied }, 'database migrated');
    }
    const store = await createFsFileStore(join(config.dataDir, 'files'));
    const passphrase =
      config.signingPassphrase ??
      (await loadOrCreatePassphrase(join(config.dataDir, 'signer.passphrase')));
    const signer = createOpenPgpSigner({ db: database.db, passphrase });
    const secrets = createSecretBox(passphrase);
    const adminToken = await bootstrapAdmin(database.db);
    let url = config.publicUrl;
    const wakeups = { worker: createWakeups(), server: createWakeups() };
    const stopListening = await database.listen(taskPendingChannel, (payload) => {
      const { count, runsOn } = parsePendingPayload(payload);
      if (runsOn !== 'server') {
        wakeups.worker.notify(count);
      }
      if (runsOn !== 'worker') {
        wakeups.server.notify(count);
      }
    });
    const logFollowers = await createLogFollowers(database);
    // Shared by the publishers of this process: tasks and API requests alike.
    const indexHashes = createIndexHashCache();
    const debReaders = createDebReaders();
    const scheduler: SchedulerDeps = {
      db: database.db,
      store,
      registry: createTaskTypeRegistry([
        ...(options.taskTypes ?? builtinTaskTypes),
        ...createAptTaskTypes({
          db: database.db,
          store,
          signer,
          indexHashes,
          includeSlice: options.aptIncludeSlice,
          debReaders,
          readHereUpTo: options.aptReadHereUpTo,
        }),
      ]),
      wakeups,
      leaseSeconds: config.leaseTimeout,
      logger,
    };
    const workflows: WorkflowDeps = {
      db: database.db,
      tasks: scheduler,
      workflows: createWorkflowTypeRegistry(builtinWorkflows),
    };
    const workflowEvents = await createWorkflowEvents(database, logger);
    const app = await createApp({
      db: database.db,
      store,
      logger,
      maxFileSize: config.maxFileSize,
      maxJsonSize: config.maxJsonSize,
      version: kilnVersion,
      scheduler,
      logFollowers,
      repositories: {
        db: database.db,
        store,
        signer,
        indexHashes,
        tasks: scheduler,
        publicUrl: () => url,
      },
      triggers: {
        db: database.db,
        secrets,
        publicUrl: () => url,
        logger,
        ...createTriggerRuns(workflows),
      },
      webhooks: { db: database.db, secrets },
      workflows,
    });
    try {
      await app.listen({ host: config.host, port: config.port });
    } catch (error) {
      throw listenError(config, error);
    }
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    // Known once listening (port 0 picks a free port); read by the routes afterwards.
    url = config.port === 0 ? config.publicUrl.replace(/:0$/, `:${port}`) : config.publicUrl;

    const gc = startPeriodic(logger, 'garbage collection', config.gcInterval * 1000, async () => {
      logger.info(await collectGarbage(database.db, store), 'garbage collected');
      await deleteExpiredSessions(database.db);
    });
    const reaper = startPeriodic(logger, 'lease reaper', 1000, async () => {
      const reaped = await reapExpiredLeases(database.db);
      if (reaped.requeued + reaped.ended > 0) {
        logger.info(reaped, 'expired leases taken back');
      }
      await saveLeftoverLogs(scheduler);
    });
    const upkeep = startPeriodic(logger, 'database upkeep', upkeepIntervalMs, async () => {
      const done = await upkeepTables(
        database.db,
        database.kind === 'pglite' ? 'embedded' : 'server',
      );
      if (done.vacuumed.length + done.analyzed.length > 0) {
        logger.debug(done, 'database tables vacuumed and analyzed');
      }
    });
    const serverRunner = startServerRunner(scheduler, config.serverTaskSlots);
    const webhookSender = startWebhookSender({
      db: database.db,
      secrets,
      logger,
      retryBaseSeconds: config.webhookRetryBase,
      version: kilnVersion,
    });
    const stopWebhookWakeups = await database.listen(webhookChannel, () => {
      webhookSender.wake();
    });
    const engine = await startWorkflowEngine(workflows, database, logger);

    logger.info({ url, database: database.kind, dataDir: config.dataDir }, 'kiln server started');
    return {
      url,
      app,
      database,
      signer,
      adminToken,
      workflows,
      workflowEvents,
      async close() {
        await engine.stop();
        await gc.stop();
        await reaper.stop();
        await upkeep.stop();
        await serverRunner.stop();
        await debReaders.close();
        await stopWebhookWakeups();
        await webhookSender.stop();
        // Requests in flight get a moment to finish; then every connection is
        // cut, so that one a client left open cannot hold the shutdown.
        const cut = setTimeout(() => {
          app.server.closeAllConnections();
        }, closeGraceMs);
        await app.close().finally(() => {
          clearTimeout(cut);
        });
        await stopListening();
        await logFollowers.close();
        await workflowEvents.close();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}

/** Fails as `listen` would when the server's address cannot be listened on now. */
async function probeAddress(config: ServerConfig): Promise<void> {
  if (config.port === 0) {
    return;
  }
  const probe = createNetServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ host: config.host, port: config.port, exclusive: true }, resolve);
    });
  } catch (error) {
    throw listenError(config, error);
  } finally {
    await new Promise((resolve) => probe.close(resolve));
  }
}

/** A failure to listen, as one line for the address the user chose, or as it is. */
function listenError(config: ServerConfig, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    return new ConfigError(
      `cannot listen on ${config.host}:${config.port}: ${code === 'EADDRINUSE' ? 'the address is in use (another kiln?); choose another with --port' : (error as Error).message}`,
    );
  }
  return error;
}

/** How often the tables' statistics and dead rows are looked at (`upkeepTables`). */
const upkeepIntervalMs = 10_000;

/** How long a closing server waits for its requests in flight before it cuts their connections. */
const closeGraceMs = 3000;

export function databaseLocation(config: ServerConfig): DatabaseLocation {
  return config.databaseUrl === undefined
    ? { kind: 'pglite', dataDir: join(config.dataDir, 'db') }
    : { kind: 'postgres', url: config.databaseUrl };
}

/** `kiln serve`: runs the server until SIGINT or SIGTERM. */
export async function main(args: readonly string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(
      `Usage: kiln serve [options]\n\nOptions (flag, environment):\n${serverOptionsHelp}\n`,
    );
    return;
  }
  let config: ServerConfig;
  try {
    config = parseServerConfig(args, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`kiln serve: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
  const started = startServer(config);
  stopOnSignals(started);
  const server = await started.catch((error: unknown) => {
    if (error instanceof ConfigError) {
      // Start-up stopped half-way (the database may be open): leave now.
      process.stderr.write(`kiln serve: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  });
  if (server.adminToken !== undefined) {
    process.stderr.write(
      `First start: user "admin" created. Its token (shown once):\n  ${server.adminToken}\n`,
    );
  }
}

/**
 * Closes the server and exits on SIGINT or SIGTERM. Call it before the server
 * starts: until a handler is installed a signal kills the process outright, so
 * a supervisor that signals as soon as the server says it started would race.
 */
export function stopOnSignals(started: Promise<RunningServer>, beforeClose?: () => void): void {
  const stop = () => {
    beforeClose?.();
    started
      .then((server) => server.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
