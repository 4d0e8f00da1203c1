import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type Docker from 'dockerode';
import type { FleetManager, ResourceLimits } from '../../fleet/index.js';
import { buildImages } from '../../images/index.js';
import { ApiClient } from '../../protocol/index.js';
import { type SlipwayServer, startServer } from '../../server/index.js';
import { lockDataDir } from '../../shared/data-dir.js';
import type { Logger } from '../../shared/logger.js';
import { checkStoreUrl } from '../../store/index.js';
import { EXIT } from '../exit-codes.js';
import { formatDuration } from '../render.js';
import { AGENT_BUNDLE_PATH, checkSocketPath, connectDocker, untilSignal } from './docker-host.js';
import { describeFleet, type FleetFlags, launchFleet, SOCKET_FILE } from './fleet.js';

export interface UpOptions {
  host: string;
  port: number;
  data: string;
  /** Where the store lives (`sqlite:<path>`); default: `sqlite:<data>/slipway.db`. */
  database?: string;
  /** Job lease lifetime without a heartbeat, in seconds. */
  leaseTtlSeconds: number;
  /** Cache limits (GiB): the total before eviction, and one entry. Defaults 20 and 2. */
  cacheMaxGiB?: number;
  cacheMaxEntryGiB?: number;
  /** `--vm-image-pool` values: vmImage name → `POOL[:IMAGE]`. Default: none. */
  vmImagePools?: Record<string, string>;
  secretKey?: string;
  fleet: FleetFlags;
  /** For the images and the fleet. */
  logger: Logger;
  /** For the server. */
  serverLogger: Logger;
  out: (s: string) => void;
}

/**
 * `slipway up`: the server, the images (built when missing or stale) and a fleet for pool
 * `default`, in one process. SIGINT/SIGTERM drain the fleet, remove its containers, then
 * stop the server.
 */
export async function upCommand(o: UpOptions): Promise<number> {
  const dataDir = resolve(o.data);
  // Before the lock, Docker and the images: a database this build cannot open is a usage error.
  if (o.database) checkStoreUrl(o.database);
  const socketPath = checkSocketPath(join(dataDir, SOCKET_FILE));
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // First of all: a second `up` on this directory would take the first one's containers,
  // agent names and socket. The server releases the lock when it stops.
  const lock = lockDataDir(dataDir);
  let server: SlipwayServer;
  let docker: Docker;
  try {
    // Before the server binds its port: without an engine there is nothing to serve jobs with.
    docker = await connectDocker();
    const images = await buildImages({ docker, agentBundlePath: AGENT_BUNDLE_PATH, logger: o.logger });
    for (const image of [images.agent, images.base]) {
      o.out(
        `Image ${image.ref}: ${image.built ? `built in ${formatDuration(image.durationMs)}` : 'up to date'}\n`,
      );
    }
    server = await startServer({
      config: {
        host: o.host,
        port: o.port,
        dataDir,
        database: o.database,
        socketPath,
        leaseTtlSeconds: o.leaseTtlSeconds,
        cacheMaxGiB: o.cacheMaxGiB,
        cacheMaxEntryGiB: o.cacheMaxEntryGiB,
        vmImagePools: o.vmImagePools ?? {},
        secretKey: o.secretKey,
      },
      logger: o.serverLogger,
      dataDirLock: lock,
    });
  } catch (error) {
    lock.release();
    throw error;
  }
  let fleet: FleetManager;
  let resources: ResourceLimits;
  try {
    const adminToken = (await readFile(server.adminTokenFile, 'utf8')).trim();
    ({ fleet, resources } = await launchFleet({
      docker,
      client: new ApiClient(`unix://${socketPath}`),
      adminToken,
      serverSocket: socketPath,
      serverId: dataDir,
      flags: o.fleet,
      logger: o.logger,
    }));
  } catch (error) {
    await server.stop();
    throw error;
  }
  o.out(
    [
      `Slipway is up: ${server.url}`,
      `Web UI: ${server.url}/ (sign in with the admin token)`,
      `Admin token: ${server.adminTokenFile} (the CLI uses it from this directory; elsewhere set SLIPWAY_URL and SLIPWAY_TOKEN)`,
      describeFleet(fleet, o.fleet, resources),
      'Ctrl-C (or SIGTERM) stops it: running jobs finish, agent containers are removed, then the server stops.',
      '',
    ].join('\n'),
  );
  await untilSignal(() => {
    o.out('Second signal: exiting now; the next `slipway up` removes what is left.\n');
    process.exit(EXIT.infrastructure);
  });
  o.out('Stopping: draining the fleet…\n');
  await stopAll(fleet, server);
  o.out('Stopped.\n');
  return EXIT.ok;
}

async function stopAll(fleet: FleetManager, server: SlipwayServer): Promise<void> {
  try {
    await fleet.stop();
  } finally {
    await server.stop();
  }
}
