import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type Docker from 'dockerode';
import {
  DockerDriver,
  defaultFleetId,
  FleetManager,
  PoolNotFoundError,
  parseResourceLimits,
  type ResourceLimits,
  withDefaultLimits,
} from '../../fleet/index.js';
import type { ApiClient } from '../../protocol/index.js';
import { DEFAULT_DATA_DIR, readServerAddress } from '../../shared/data-dir.js';
import type { Logger } from '../../shared/logger.js';
import { type ClientSettings, resolveClient } from '../client-config.js';
import { CliError, EXIT } from '../exit-codes.js';
import { checkSocketPath, connectDocker, untilSignal } from './docker-host.js';
import type { KubernetesEnv, KubernetesFleetFlags } from './fleet-kubernetes.js';

/** Fleet flags shared by `slipway fleet` and `slipway up`, as commander parses them. */
export interface FleetFlags {
  pool: string;
  minIdle: number;
  max: number;
  /** Idle agents kept for each recently used custom image (`--warm-per-image`). */
  warmPerImage: number;
  image?: string;
  cpus?: string;
  memory?: string;
  pids?: string;
  /** Size of each job's work folder and /tmp (tmpfs). */
  disk?: string;
  /** Seconds running jobs may go on when the fleet stops. */
  drainTimeout: number;
  /** Extra labels on everything the fleet makes. */
  label?: Record<string, string>;
  fleetId?: string;
}

export const SOCKET_FILE = 'agent.sock';

export interface LaunchFleetOptions {
  docker: Docker;
  client: ApiClient;
  adminToken: string;
  /** Host path of the server's Unix socket. */
  serverSocket: string;
  /** What identifies the server for the default fleet id (its URL or data directory). */
  serverId: string;
  flags: FleetFlags;
  logger: Logger;
}

/** Builds and starts a Docker fleet from flags: the composition both commands share. */
export async function launchFleet(
  o: LaunchFleetOptions,
): Promise<{ fleet: FleetManager; resources: ResourceLimits }> {
  const { flags } = o;
  if (!(flags.minIdle >= 0) || !(flags.max >= 1) || flags.minIdle > flags.max) {
    throw new CliError(
      `--min-idle ${flags.minIdle} and --max ${flags.max}: need 0 ≤ min-idle ≤ max and max ≥ 1`,
      EXIT.invalid,
    );
  }
  if (!(Number.isInteger(flags.warmPerImage) && flags.warmPerImage >= 0)) {
    throw new CliError(`--warm-per-image ${flags.warmPerImage}: need a whole number ≥ 0`, EXIT.invalid);
  }
  // The engine's host, which may not be this one (DOCKER_HOST).
  const host = await o.docker.info();
  const resources = withDefaultLimits(parseResourceLimits(flags), {
    cpus: host.NCPU,
    memoryBytes: host.MemTotal,
  });
  const driver = new DockerDriver({
    docker: o.docker,
    serverSocket: o.serverSocket,
    resources,
    labels: flags.label ?? {},
    logger: o.logger,
  });
  const fleet = new FleetManager({
    client: o.client,
    adminToken: o.adminToken,
    driver,
    fleetId: flags.fleetId ?? defaultFleetId({ pool: flags.pool, server: o.serverId }),
    pool: flags.pool,
    minIdle: flags.minIdle,
    max: flags.max,
    warmPerImage: flags.warmPerImage,
    ...(flags.image ? { image: flags.image } : {}),
    drainTimeoutMs: flags.drainTimeout * 1000,
    logger: o.logger,
  });
  try {
    await fleet.start();
  } catch (error) {
    await fleet.stop().catch(() => undefined);
    if (error instanceof PoolNotFoundError) {
      throw new CliError(
        `pool '${flags.pool}' does not exist: create it with 'slipway pool create ${flags.pool}'`,
        EXIT.invalid,
      );
    }
    throw error;
  }
  return { fleet, resources };
}

export function describeFleet(fleet: FleetManager, flags: FleetFlags, resources: ResourceLimits): string {
  const memory = resources.memoryBytes
    ? `${+(resources.memoryBytes / 1024 ** 3).toFixed(2)} GiB`
    : 'any memory';
  const cpus = resources.cpus ? `${resources.cpus} CPU${resources.cpus === 1 ? '' : 's'}` : 'any CPUs';
  return `Fleet ${fleet.fleetId}: pool '${fleet.pool}', image ${fleet.defaultImage}, ${flags.minIdle} idle, at most ${flags.max} agents of ${cpus} and ${memory} each (--cpus, --memory)`;
}

/**
 * The host path of the server's socket: --socket, else what the data directory's server
 * recorded, else `<data>/agent.sock`. A server named by SLIPWAY_URL alone has no data directory
 * here to look in, so the socket must be named.
 */
function serverSocket(o: ClientSettings & { socket?: string }): string {
  if (o.socket) return o.socket;
  if (o.url && !o.dataDir) {
    throw new CliError(
      `slipway fleet needs the Unix socket of the server at ${o.url}: agents reach the server through it; pass --socket PATH, the path that server serves ('slipway server --socket PATH')`,
      EXIT.invalid,
    );
  }
  const dir = resolve(o.dataDir ?? DEFAULT_DATA_DIR);
  return readServerAddress(dir)?.socket ?? join(dir, SOCKET_FILE);
}

/** `slipway fleet`: one-job agent containers for a pool of a running server, until SIGINT/SIGTERM. */
export async function fleetCommand(
  o: ClientSettings &
    FleetFlags &
    KubernetesFleetFlags & {
      driver?: 'docker' | 'kubernetes';
      env: KubernetesEnv;
      socket?: string;
      logger: Logger;
      out: (s: string) => void;
    },
): Promise<number> {
  // Loaded only for it: a Docker fleet never pays for the Kubernetes driver.
  if (o.driver === 'kubernetes') return (await import('./fleet-kubernetes.js')).kubernetesFleetCommand(o);
  const { client, token, url } = resolveClient(o);
  const socket = checkSocketPath(serverSocket(o));
  if (!existsSync(socket) || !statSync(socket).isSocket()) {
    throw new CliError(
      `no server socket at ${socket}: agents reach the server through it; pass --socket, or start the server with one ('slipway server --socket ${socket}'; 'slipway up' makes <data>/${SOCKET_FILE})`,
      EXIT.invalid,
    );
  }
  const docker = await connectDocker();
  const { fleet, resources } = await launchFleet({
    docker,
    client,
    adminToken: token,
    serverSocket: socket,
    serverId: url,
    flags: o,
    logger: o.logger,
  });
  o.out(`${describeFleet(fleet, o, resources)}\nServing ${url}; Ctrl-C drains and stops it.\n`);
  await untilSignal(() => process.exit(EXIT.infrastructure));
  o.out('Stopping: running jobs finish, then every agent container is removed…\n');
  await fleet.stop();
  o.out('Fleet stopped.\n');
  return EXIT.ok;
}
