import type Dockerode from 'dockerode';
import { AGENT_CA_BUNDLE, AGENT_MOUNT, agentCommand } from '../images/index.js';
import { IMAGE_CAPABILITY } from '../protocol/index.js';
import type { UnitRequest } from './driver.js';
import { FLEET_ROLE, LABEL, type UnitRole } from './labels.js';

/** Where the server's Unix socket appears in agent containers; no TCP port is opened to them. */
export const SOCKET_IN_CONTAINER = '/run/slipway/agent.sock';
export const AGENT_URL = `unix://${SOCKET_IN_CONTAINER}`;
/** The ticket file; its directory is writable so the agent can delete the ticket once read. */
export const TICKET_DIR = '/run/slipway-ticket';
export const TICKET_PATH = `${TICKET_DIR}/ticket`;
/** A disk-backed volume the agent works in, made writable for any user (see `ticketArchive`). */
export const WORK_MOUNT = '/slipway-work';
export const WORK_DIR = `${WORK_MOUNT}/_work`;
/** HOME for non-root images that set none: many have no writable home of their own. */
export const WORK_HOME = `${WORK_MOUNT}/home`;

/**
 * Default capabilities jobs do without. Kept: what package managers and service entrypoints
 * need (CHOWN, DAC_OVERRIDE, FOWNER, SETUID, SETGID, KILL, NET_BIND_SERVICE, SYS_CHROOT).
 */
export const DROPPED_CAPABILITIES = ['NET_RAW', 'MKNOD', 'AUDIT_WRITE', 'SETFCAP', 'SETPCAP'];

export interface ResourceLimits {
  /** CPUs per container, e.g. 1.5; default unlimited. */
  cpus?: number;
  /** Memory per container in bytes (swap disabled); default unlimited. */
  memoryBytes?: number;
  /** Processes per container; default unlimited. */
  pids?: number;
  /**
   * Size of the job's work folder and /tmp, as tmpfs (counted against memory); default: a
   * disk-backed volume without a limit. A job that fills them fails itself with ENOSPC.
   */
  diskBytes?: number;
}

export interface ContainerSpecInput {
  /** The unit to start; its ticket is not part of any spec. */
  unit: Omit<UnitRequest, 'ticket'>;
  /** What the engine reports for the agent's image. */
  image: { env: string[]; user: string };
  /** The named volume holding the agent runtime (`ensureAgentVolume`). */
  agentVolume: string;
  /** Host path of the server's Unix socket. */
  serverSocket: string;
  /** Network of units without services (`fleetNetworkSpec`); default Docker's `bridge`. */
  fleetNetwork?: string;
  /** Limits for every container of the unit. */
  resources?: ResourceLimits;
  /** Extra labels for every object (e.g. a test run's id). */
  labels?: Record<string, string>;
  /** Architecture of the agent runtime; default this process's. */
  arch?: string;
}

export interface ContainerSpec {
  /** The unit's private network, when it has services. */
  network?: Dockerode.NetworkCreateOptions;
  services: Dockerode.ContainerCreateOptions[];
  agent: Dockerode.ContainerCreateOptions;
}

/** Docker create options for a unit: pure, so every rule is checked by a table test. */
export function buildContainerSpec(input: ContainerSpecInput): ContainerSpec {
  const { unit } = input;
  const base = `slipway-${unit.agentName}-${unit.unitId}`;
  const hasServices = Object.keys(unit.services).length > 0;
  const network = hasServices ? base : undefined;
  const labels = (role: UnitRole, extra: Record<string, string> = {}) => ({
    ...input.labels,
    [LABEL.managed]: 'true',
    [LABEL.fleet]: unit.fleetId,
    [LABEL.pool]: unit.pool,
    [LABEL.agent]: unit.agentName,
    [LABEL.unit]: unit.unitId,
    ...(unit.jobId === undefined ? {} : { [LABEL.job]: unit.jobId }),
    [LABEL.role]: role,
    ...extra,
  });
  const hostConfig = (): Dockerode.HostConfig => ({
    ...confinement(),
    ...limits(input.resources),
    NetworkMode: network ?? input.fleetNetwork ?? 'bridge',
    RestartPolicy: { Name: 'no' },
  });
  const endpoint = (aliases: string[]): Pick<Dockerode.ContainerCreateOptions, 'NetworkingConfig'> =>
    network ? { NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: aliases } } } } : {};

  const args = [
    'agent',
    'run',
    '--url',
    AGENT_URL,
    '--ticket-file',
    TICKET_PATH,
    '--pool',
    unit.pool,
    '--name',
    unit.agentName,
    '--work',
    WORK_DIR,
    '--capability',
    `${IMAGE_CAPABILITY}=${unit.image}`,
  ];
  const agent: Dockerode.ContainerCreateOptions = {
    name: base,
    Image: unit.image,
    // Replacing the entrypoint also drops the image's CMD: the image's own program never runs.
    Entrypoint: agentCommand(args, input.arch),
    Env: [...agentEnv(input.image), ...Object.entries(unit.env ?? {}).map(([k, v]) => `${k}=${v}`)],
    Labels: labels('agent'),
    HostConfig: {
      ...hostConfig(),
      Mounts: mounts([
        {
          Type: 'volume',
          Source: input.agentVolume,
          Target: AGENT_MOUNT,
          ReadOnly: true,
          VolumeOptions: { NoCopy: true },
        },
        { Type: 'bind', Source: input.serverSocket, Target: SOCKET_IN_CONTAINER, ReadOnly: true },
        // Anonymous, so it goes with the container (`remove({ v: true })`); labelled for the GC.
        ...(input.resources?.diskBytes === undefined
          ? [
              {
                Type: 'volume' as const,
                Target: WORK_MOUNT,
                VolumeOptions: { NoCopy: true, Labels: labels('work') },
              },
            ]
          : []),
      ]),
      ...(input.resources?.diskBytes === undefined ? {} : { Tmpfs: sizedTmpfs(input.resources.diskBytes) }),
    },
    ...endpoint([]),
  };
  const services = Object.entries(unit.services).map(
    ([name, service]): Dockerode.ContainerCreateOptions => ({
      name: `${base}-${name}`,
      Image: service.image,
      Env: Object.entries(service.env).map(([k, v]) => `${k}=${v}`),
      Labels: labels('service', { [LABEL.service]: name }),
      HostConfig: hostConfig(),
      ...endpoint([name]),
    }),
  );
  return {
    ...(network
      ? { network: { Name: network, Driver: 'bridge', CheckDuplicate: true, Labels: labels('network') } }
      : {}),
    services,
    agent,
  };
}

/**
 * The network units without services share. Containers on it reach the outside (and the host's
 * gateway) but not each other: Docker's default bridge lets every container talk to every
 * other, so one job could reach into another's. A private network per unit would do too, but
 * costs ~150 ms more per start and ~300 ms of engine time per removal here.
 */
export function fleetNetworkSpec(
  fleetId: string,
  labels: Record<string, string> = {},
): Dockerode.NetworkCreateOptions {
  return {
    Name: `slipway-fleet-${fleetId.replace(/[^A-Za-z0-9_.-]/g, '-')}`,
    Driver: 'bridge',
    CheckDuplicate: true,
    Options: { 'com.docker.network.bridge.enable_icc': 'false' },
    Labels: { ...labels, [LABEL.managed]: 'true', [LABEL.fleet]: fleetId, [LABEL.role]: FLEET_ROLE },
  };
}

/** A mount as the Engine API takes it; dockerode's type makes optional fields required. */
interface Mount {
  Type: 'volume' | 'bind';
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string> };
}

function mounts(list: Mount[]): Dockerode.MountSettings[] {
  return list as Dockerode.MountSettings[];
}

/** No privileges beyond Docker's defaults minus a few, no setuid escalation, an init that reaps. */
function confinement(): Dockerode.HostConfig {
  return {
    Privileged: false,
    CapDrop: DROPPED_CAPABILITIES,
    SecurityOpt: ['no-new-privileges'],
    Init: true,
  };
}

/** The work folder and /tmp as bounded tmpfs; executable, since builds run what they make there. */
function sizedTmpfs(bytes: number): Record<string, string> {
  const options = `rw,exec,nosuid,nodev,size=${bytes},mode=1777`;
  return { [WORK_MOUNT]: options, '/tmp': options };
}

function limits(r: ResourceLimits = {}): Dockerode.HostConfig {
  return {
    ...(r.cpus === undefined ? {} : { NanoCpus: Math.round(r.cpus * 1e9) }),
    ...(r.memoryBytes === undefined ? {} : { Memory: r.memoryBytes, MemorySwap: r.memoryBytes }),
    ...(r.pids === undefined ? {} : { PidsLimit: r.pids }),
  };
}

/**
 * Only what the agent and steps need and nothing secret: `docker inspect` shows Env to anyone
 * with access to the engine. What the image sets itself is left alone.
 */
function agentEnv(image: { env: string[]; user: string }): string[] {
  const has = (name: string) => image.env.some((e) => e.startsWith(`${name}=`));
  const env: string[] = [];
  if (!has('NODE_EXTRA_CA_CERTS')) env.push(`NODE_EXTRA_CA_CERTS=${AGENT_CA_BUNDLE}`);
  if (!has('HOME') && !isRoot(image.user)) env.push(`HOME=${WORK_HOME}`);
  return env;
}

function isRoot(user: string): boolean {
  const name = user.split(':', 1)[0] ?? '';
  return name === '' || name === 'root' || name === '0';
}
