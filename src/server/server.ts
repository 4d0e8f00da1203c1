import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { BLOBS_FLAG, type BlobStore, checkBlobsUrl, openBlobStore } from '../blobs/index.js';
import { type Clock, systemClock } from '../shared/clock.js';
import {
  ADMIN_TOKEN_FILE,
  clearServerAddress,
  type DataDirLock,
  lockDataDir,
  preparePrivateDataDir,
  recordServerAddress,
} from '../shared/data-dir.js';
import { ValidationError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { GitRunner, SourcesRunner } from '../sources/index.js';
import { checkStoreUrl, defaultStoreUrl, openStore, type Store } from '../store/index.js';
import { ensureAdminToken } from './admin-token.js';
import { buildApp } from './app.js';
import { ArtifactStore } from './artifact-store.js';
import { Auth, FailureLimiter } from './auth.js';
import { type ServerConfig, type ServerConfigInput, serverConfig } from './config.js';
import type { ServerContext } from './context.js';
import { Dispatcher } from './dispatcher.js';
import { adoptLegacyBlobs } from './legacy-blobs.js';
import { ServerMetrics } from './metrics.js';
import { InProcessNotifier, type Notifier } from './notifier.js';
import { Scheduler } from './scheduler.js';
import { SecretVault } from './secret-vault.js';
import {
  AgentService,
  ArtifactService,
  CacheService,
  JobService,
  PoolService,
  QueueService,
  RepositoryService,
  RunService,
  TokenService,
  VariableGroupService,
} from './services/index.js';
import { parseVmImageMappings } from './vm-images.js';
import { WorkspaceStore } from './workspace-store.js';

export interface SlipwayServer {
  url: string;
  app: FastifyInstance;
  context: ServerContext;
  dataDir: string;
  /** Where the admin token is: `--admin-token-file`, or `<data>/admin.token`. */
  adminTokenFile: string;
  /** The Unix socket the API is also served on, when configured. */
  socketPath?: string;
  /** Where the agent API alone is served (`agentPort`), when configured. */
  agentUrl?: string;
  stop(): Promise<void>;
}

export interface StartServerOptions {
  config: ServerConfigInput;
  logger?: Logger;
  clock?: Clock;
  store?: Store;
  /** Workspaces and artifacts; default: files under `<data>/blobs`. */
  blobs?: BlobStore;
  /** Wake-ups between the server's parts; default: in-process (one coordinator). */
  notifier?: Notifier;
  /**
   * The data directory's lock when the caller took it already (`slipway up` does, before it
   * touches containers); else the server takes it. Either way `stop()` releases it.
   */
  dataDirLock?: DataDirLock;
}

export { ADMIN_TOKEN_FILE };

const GiB = 1024 * 1024 * 1024;

/** Starts the coordinator: opens the store, prepares the data directory, listens. */
export async function startServer(options: StartServerOptions): Promise<SlipwayServer> {
  const config = serverConfig.parse(options.config);
  const logger = options.logger ?? createLogger({ level: config.logLevel, name: 'server' });
  const clock = options.clock ?? systemClock;
  const dataDir = resolve(config.dataDir);
  const databaseUrl = config.database ?? defaultStoreUrl(dataDir);
  // A store this build cannot open is refused before the data directory is touched.
  if (isSharedDatabase(databaseUrl)) checkReplicaConfig(config, options);
  if (!options.store) checkStoreUrl(databaseUrl);
  if (!options.blobs && config.blobs) checkBlobsUrl(config.blobs);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const lock = options.dataDirLock ?? lockDataDir(dataDir);
  try {
    return await startLocked(options, config, logger, clock, dataDir, databaseUrl, lock);
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function startLocked(
  options: StartServerOptions,
  config: ServerConfig,
  logger: Logger,
  clock: Clock,
  dataDir: string,
  databaseUrl: string,
  lock: DataDirLock,
): Promise<SlipwayServer> {
  const warning = preparePrivateDataDir(dataDir);
  if (warning) logger.warn({ dataDir }, warning);
  const store = options.store ?? (await openStore(databaseUrl));
  const blobs = options.blobs ?? (await openBlobStore(config.blobs, dataDir));
  await adoptLegacyBlobs(dataDir, blobs, logger);
  const vault = new SecretVault(await secretKey(dataDir, config.secretKey));
  const auth = new Auth({ store, clock, logger });
  const adminTokenFile = config.adminTokenFile
    ? resolve(config.adminTokenFile)
    : join(dataDir, ADMIN_TOKEN_FILE);
  await ensureAdminToken(
    store,
    clock,
    config.adminTokenFile ? { shared: adminTokenFile } : { own: adminTokenFile },
  );
  await store.ensurePool('default', { allowDockerSocket: false }, clock.now());

  const replicated = isSharedDatabase(databaseUrl);
  const notifier = options.notifier ?? (await openNotifier(databaseUrl, logger));
  const dispatcher = new Dispatcher({ store, clock, logger, notifier });
  const leaseTtlMs = config.leaseTtlSeconds * 1000;
  const variableGroups = new VariableGroupService({ store, clock, vault });
  const scheduler = new Scheduler({
    store,
    clock,
    logger,
    auth,
    dispatcher,
    notifier,
    vault,
    leaseTtlMs,
    vmImagePools: parseVmImageMappings(config.vmImagePools),
    variableGroups,
  });
  await scheduler.recover();
  scheduler.start();

  const limiter = new FailureLimiter(clock);
  const pollTimeoutMs = config.pollTimeoutSeconds * 1000;
  const pools = new PoolService({
    store,
    clock,
    logger,
    auth,
    scheduler,
    dispatcher,
    notifier,
    pollTimeoutMs,
    replicated,
    onFleetStatus: (pool, id, status) => metrics.fleetReported(pool, id, status),
  });
  const metrics = new ServerMetrics({
    store,
    dispatcher,
    listAgents: () => pools.listAgents(),
    listFleets: async () => (await pools.listFleets()).filter((f) => f.live),
  });
  scheduler.onJobFinished = (result, reason, job, now) => metrics.jobFinished(job, result, reason, now);
  scheduler.onJobStarted = (job, now) => metrics.jobStarted(job, now);
  scheduler.onLeaseExpired = (job) => metrics.leaseExpiries.inc({ pool: job.pool });
  const workspaces = new WorkspaceStore(blobs);
  const artifacts = new ArtifactStore(blobs);
  const runService = new RunService({ store, scheduler, notifier, workspaces, clock });
  let publicUrl = config.publicUrl ?? '';
  const repositories = new RepositoryService({
    store,
    clock,
    logger: logger.child({ part: 'sources' }),
    vault,
    scheduler,
    runs: runService,
    git: new GitRunner({ stateDir: join(dataDir, 'repos', '.git-state') }),
    mirrorsDir: join(dataDir, 'repos'),
    publicUrl: () => publicUrl,
  });
  const sources = new SourcesRunner({ work: repositories, clock, logger, tickMs: config.sourcesTickMs });
  const context: ServerContext = {
    metrics,
    metricsLoopback: config.metricsLoopback,
    store,
    clock,
    logger,
    auth,
    limiter,
    scheduler,
    dispatcher,
    notifier,
    workspaces,
    artifacts,
    pollTimeoutMs,
    agents: new AgentService({ store, clock, logger, auth, limiter, scheduler, dispatcher, pollTimeoutMs }),
    pools,
    queue: new QueueService({ store, clock, poolServers: (pool) => scheduler.poolServers(pool) }),
    tokens: new TokenService({ store, clock, logger, auth }),
    runService,
    repositories,
    jobService: new JobService({
      store,
      scheduler,
      notifier,
      workspaces,
      clock,
      onLogBytes: (pool, bytes) => metrics.logBytes.inc({ pool }, bytes),
    }),
    artifactService: new ArtifactService({ store, scheduler, artifacts }),
    variableGroups,
    caches: new CacheService({
      store,
      blobs,
      clock,
      logger,
      maxEntryBytes: config.cacheMaxEntryGiB * GiB,
      maxTotalBytes: config.cacheMaxGiB * GiB,
    }),
  };
  const app = buildApp(context);
  const handlers = trackHandlers(app);
  await app.listen({ host: config.host, port: config.port });
  const url = listeningUrl(app, config.host);
  // A second app, not a filter in front of the first: the admin routes do not exist there.
  const agentApp = config.agentPort === undefined ? undefined : buildApp(context, { surface: 'agent' });
  const agentHandlers = agentApp && trackHandlers(agentApp);
  if (agentApp) {
    try {
      await agentApp.listen({ host: config.agentHost ?? config.host, port: config.agentPort });
    } catch (error) {
      // The port is taken or not allowed: undo what runs already, so the process can exit.
      scheduler.stop();
      dispatcher.stop();
      await app.close();
      await store.close();
      throw error;
    }
  }
  const agentUrl = agentApp && listeningUrl(agentApp, config.agentHost ?? config.host);
  const socket = config.socketPath ? await listenOnSocket(app, resolve(config.socketPath)) : undefined;
  const socketPath = config.socketPath ? resolve(config.socketPath) : undefined;
  publicUrl = (config.publicUrl ?? url).replace(/\/+$/, '');
  sources.start();
  // For the CLI: `slipway run --data DIR` finds this server, whatever its --port.
  recordServerAddress(dataDir, { url, ...(socketPath ? { socket: socketPath } : {}) });
  logger.info({ url, agentUrl, socket: config.socketPath, dataDir }, 'server ready');

  return {
    url,
    app,
    context,
    dataDir,
    adminTokenFile,
    socketPath,
    agentUrl,
    async stop() {
      try {
        await sources.stop();
        await repositories.idle();
        scheduler.stop();
        dispatcher.stop();
        socket?.closeAllConnections();
        await new Promise((r) => (socket ? socket.close(r) : r(null)));
        await Promise.all([app.close(), agentApp?.close()]);
        // Closing the connections wakes the long polls (a follower's run feed), whose handlers
        // then read the store once more: close it only when they are done.
        await Promise.all([handlers.settled(5_000), agentHandlers?.settled(5_000)]);
        if (!options.notifier) await (notifier as Partial<Stoppable>).stop?.();
        await store.close();
      } finally {
        clearServerAddress(dataDir);
        lock.release();
      }
    },
  };
}

interface Stoppable {
  stop(): Promise<void>;
}

/** A database other coordinators may share: wake-ups, blobs and the secret key must be shared too. */
function isSharedDatabase(url: string): boolean {
  return /^postgres(ql)?:/i.test(url.trim());
}

/**
 * What replicas on one database need beside it, refused before anything starts (the CLI exits
 * 2): every replica opens the secrets any other sealed, so the key is given, the same on each;
 * every replica reads the workspaces, artifacts and caches any other wrote, so blobs are named
 * — an S3 bucket, or a directory all of them mount (`file:`, also for a single replica).
 */
function checkReplicaConfig(config: ServerConfig, options: StartServerOptions): void {
  if (!options.blobs && !config.blobs) {
    throw new ValidationError(
      `--database postgres:// is for coordinators that share one database, and they must share blobs too: give ${BLOBS_FLAG} s3://BUCKET[/PREFIX][?endpoint=URL], or file:DIR for a directory every replica mounts (or for a single replica)`,
    );
  }
  if (!config.secretKey) {
    throw new ValidationError(
      '--database postgres:// needs SLIPWAY_SECRET_KEY (32 bytes, hex or base64), the same on every replica: a key made in one data directory cannot open secrets another replica sealed',
    );
  }
}

/** LISTEN/NOTIFY when replicas share PostgreSQL, in-process otherwise; `pg` loads only when used. */
async function openNotifier(databaseUrl: string, logger: Logger): Promise<Notifier> {
  if (!isSharedDatabase(databaseUrl)) return new InProcessNotifier();
  const { PostgresNotifier } = await import('./postgres-notifier.js');
  const notifier = new PostgresNotifier({ url: databaseUrl, logger: logger.child({ part: 'notifier' }) });
  await notifier.start();
  return notifier;
}

/** The URL a listening app answers at; a wildcard address is reached on loopback. */
function listeningUrl(app: FastifyInstance, configuredHost: string): string {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const host = configuredHost.includes(':') ? `[${configuredHost}]` : configuredHost;
  return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
}

/**
 * Counts requests whose handler has not finished. `onSend` runs when a handler's answer or
 * error is ready, also for a client that hung up meanwhile (its connection is then dropped).
 */
function trackHandlers(app: FastifyInstance): { settled(timeoutMs: number): Promise<void> } {
  let running = 0;
  let idle: (() => void) | undefined;
  const counted = new WeakSet<object>();
  app.addHook('onRequest', async (req) => {
    counted.add(req);
    running++;
  });
  app.addHook('onSend', async (req) => {
    if (!counted.delete(req)) return;
    running--;
    if (running === 0) idle?.();
  });
  return {
    settled(timeoutMs) {
      if (running === 0) return Promise.resolve();
      return new Promise<void>((resolveSettled) => {
        const timer = setTimeout(resolveSettled, timeoutMs);
        idle = () => {
          clearTimeout(timer);
          resolveSettled();
        };
      });
    },
  };
}

/**
 * A second listener for the same routes on a Unix socket. Anyone who can open the socket still
 * needs a token, so it is made world-connectable for agents that run as any user.
 */
async function listenOnSocket(app: FastifyInstance, path: string): Promise<Server> {
  await rm(path, { force: true });
  const server = createServer((req, res) => app.routing(req, res));
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(path, ok));
  await chmod(path, 0o666);
  return server;
}

async function secretKey(dataDir: string, configured?: string): Promise<Buffer> {
  if (configured) {
    const key = /^[0-9a-f]{64}$/i.test(configured)
      ? Buffer.from(configured, 'hex')
      : Buffer.from(configured, 'base64');
    if (key.length !== 32) throw new Error('SLIPWAY_SECRET_KEY must be 32 bytes, hex or base64');
    return key;
  }
  const file = join(dataDir, 'secret.key');
  if (existsSync(file)) return Buffer.from((await readFile(file, 'utf8')).trim(), 'hex');
  const key = randomBytes(32);
  await writeFile(file, key.toString('hex'), { mode: 0o600 });
  return key;
}
