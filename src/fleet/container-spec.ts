import type Dockerode from 'dockerode';
import {
  AGENT_CA_BUNDLE,
  AGENT_MOUNT,
  agentCommand,
  DIND_CLIENT_CERTS,
  DIND_IMAGE,
  DIND_PORT,
} from '../images/index.js';
import { type ContainerOptions, IMAGE_CAPABILITY, JOB_CA_CERTS_VARIABLE } from '../protocol/index.js';
import { assertNever } from '../shared/errors.js';
import type { DockerEngineOptions, UnitRequest } from './driver.js';
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

/** The job's engine answers here, on the job's private network. */
export const DIND_HOST = `tcp://docker:${DIND_PORT}`;
/** Where the client half of the job engine's certificates is mounted (read-only) in the job container. */
export const DOCKER_CERT_PATH = '/run/slipway-docker/certs';
/** Where the host engine's socket appears in `docker: socket` job containers. */
export const DOCKER_SOCKET_IN_CONTAINER = '/var/run/docker.sock';

/**
 * What the job's engine gets instead of `--privileged`, which some hosts refuse outright (a VM
 * whose capability bounding set lacks CAP_SYS_RESOURCE: "unable to apply caps"). Every other
 * capability, no seccomp filter, no masked or read-only /proc and /sys paths (the CLI's
 * `systempaths=unconfined`, which the API takes as empty lists) and every device: enough for
 * dockerd, runc and overlay2, and it starts wherever `--privileged` does.
 */
export const DIND_CAP_DROP = ['SYS_RESOURCE'];
export const DIND_SECURITY_OPT = ['seccomp=unconfined'];
export const DIND_DEVICE_CGROUP_RULES = ['a *:* rwm'];

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
  /** Image of the job's engine (`docker: dind`); default `slipway/dind:latest`. */
  dindImage?: string;
  /** Host path of the engine's socket, mounted for `docker: socket`; default `/var/run/docker.sock`. */
  hostSocket?: string;
  /**
   * Host directory (private to the fleet) under which a unit whose agent runs as root gets a
   * ticket directory of its own, bind-mounted at `TICKET_DIR`; default none: every ticket is
   * uploaded into the created container (`ticketArchive`), a call of ~85 ms to the engine.
   */
  ticketRoot?: string;
}

export interface ContainerSpec {
  /** The unit's private network, when it has services or its own engine. */
  network?: Dockerode.NetworkCreateOptions;
  /** Named volumes made before the containers (the job engine's storage and certificates). */
  volumes: Dockerode.VolumeCreateOptions[];
  services: Dockerode.ContainerCreateOptions[];
  /** The job's own Docker engine (`docker: dind`), started before the agent and ready before it starts. */
  dind?: Dockerode.ContainerCreateOptions;
  agent: Dockerode.ContainerCreateOptions;
  /**
   * Host directory to write the ticket into before the agent starts (it is `TICKET_DIR` in the
   * container). Absent: upload `ticketArchive`, which also opens the work volume to a non-root
   * user; an agent that runs as root needs neither the upload nor that.
   */
  ticketDir?: string;
}

/** The agent's command line in a unit, Docker or Kubernetes alike: one-use ticket, one job's pool and name. */
export function agentArgs(
  unit: Pick<UnitRequest, 'pool' | 'agentName' | 'image'>,
  serverUrl: string,
): string[] {
  return [
    'agent',
    'run',
    '--url',
    serverUrl,
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
}

/** What the job's steps are told about Docker inside the job. */
export function jobDockerEnv(docker: NonNullable<UnitRequest['docker']>): string[] {
  switch (docker) {
    case 'dind':
      return [`DOCKER_HOST=${DIND_HOST}`, 'DOCKER_TLS_VERIFY=1', `DOCKER_CERT_PATH=${DOCKER_CERT_PATH}`];
    case 'socket':
      return [`DOCKER_HOST=unix://${DOCKER_SOCKET_IN_CONTAINER}`];
    case 'rootless':
      return ROOTLESS_BUILDER_ENV;
    case 'none':
      return [];
    default:
      return assertNever(docker);
  }
}

/** Docker create options for a unit: pure, so every rule is checked by a table test. */
export function buildContainerSpec(input: ContainerSpecInput): ContainerSpec {
  const { unit } = input;
  const base = `slipway-${unit.agentName}-${unit.unitId}`;
  const docker = unit.docker ?? 'none';
  const engine = unit.dockerEngine ?? {};
  const hasServices = Object.keys(unit.services).length > 0;
  const network = hasServices || docker === 'dind' ? base : undefined;
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
  const hostConfig = (options?: ContainerOptions): Dockerode.HostConfig => ({
    ...confinement(),
    ...limits(withinLimits(input.resources, options)),
    ...optionsHostConfig(options),
    NetworkMode: network ?? input.fleetNetwork ?? 'bridge',
    RestartPolicy: { Name: 'no' },
  });
  const endpoint = (aliases: string[]): Pick<Dockerode.ContainerCreateOptions, 'NetworkingConfig'> =>
    network ? { NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: aliases } } } } : {};

  const args = agentArgs(unit, AGENT_URL);
  // Named, so the engine and the job share them; labelled with the unit, so they go with it.
  const storage = `${base}-docker-storage`;
  const certs = `${base}-docker-certs`;
  const volumes: Dockerode.VolumeCreateOptions[] =
    docker === 'dind'
      ? [
          { Name: storage, Labels: labels('dind-storage') },
          { Name: certs, Labels: labels('dind-certs') },
        ]
      : [];
  const dockerEnv = jobDockerEnv(docker);
  const dockerMounts: Mount[] =
    docker === 'dind'
      ? [{ Type: 'volume', Source: certs, Target: DOCKER_CERT_PATH, ReadOnly: true }]
      : docker === 'socket'
        ? [
            {
              Type: 'bind',
              Source: input.hostSocket ?? '/var/run/docker.sock',
              Target: DOCKER_SOCKET_IN_CONTAINER,
            },
          ]
        : [];
  const agentUser = unit.options?.user ?? input.image.user;
  const ticketDir =
    input.ticketRoot !== undefined && isRoot(agentUser) ? `${input.ticketRoot}/${unit.unitId}` : undefined;
  const agent: Dockerode.ContainerCreateOptions = {
    name: base,
    Image: unit.image,
    // Replacing the entrypoint also drops the image's CMD: the image's own program never runs.
    Entrypoint: agentCommand(args, input.arch),
    ...optionsConfig(unit.options),
    Env: [
      ...agentEnv({ ...input.image, user: agentUser }),
      ...dockerEnv,
      ...Object.entries(unit.env ?? {}).map(([k, v]) => `${k}=${v}`),
      ...optionsEnv(unit.options),
    ],
    Labels: labels('agent'),
    HostConfig: {
      ...hostConfig(unit.options),
      ...(docker === 'rootless' ? rootlessBuilderRights() : {}),
      Mounts: mounts([
        ...dockerMounts,
        {
          Type: 'volume',
          Source: input.agentVolume,
          Target: AGENT_MOUNT,
          ReadOnly: true,
          VolumeOptions: { NoCopy: true },
        },
        { Type: 'bind', Source: input.serverSocket, Target: SOCKET_IN_CONTAINER, ReadOnly: true },
        // Writable: the agent deletes the ticket once read. Nothing else of the host's is in it.
        ...(ticketDir ? [{ Type: 'bind' as const, Source: ticketDir, Target: TICKET_DIR }] : []),
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
      ...optionsConfig(service.options),
      Env: [...Object.entries(service.env).map(([k, v]) => `${k}=${v}`), ...optionsEnv(service.options)],
      Labels: labels('service', { [LABEL.service]: name }),
      HostConfig: hostConfig(service.options),
      ...endpoint([name]),
    }),
  );
  const dind: Dockerode.ContainerCreateOptions | undefined =
    docker === 'dind'
      ? {
          name: `${base}-docker`,
          Image: input.dindImage ?? DIND_IMAGE,
          Cmd: engineArgs(engine),
          Labels: labels('dind'),
          HostConfig: {
            ...limits(input.resources),
            NetworkMode: network!,
            RestartPolicy: { Name: 'no' },
            Init: true,
            Privileged: false,
            CapAdd: ['ALL'],
            CapDrop: DIND_CAP_DROP,
            SecurityOpt: DIND_SECURITY_OPT,
            MaskedPaths: [],
            ReadonlyPaths: [],
            DeviceCgroupRules: DIND_DEVICE_CGROUP_RULES,
            Mounts: mounts([
              // A volume, not the container's own layer: overlay2 cannot stack on overlay2.
              { Type: 'volume', Source: storage, Target: '/var/lib/docker' },
              { Type: 'volume', Source: certs, Target: DIND_CLIENT_CERTS },
            ]),
          },
          ...endpoint(['docker']),
        }
      : undefined;
  const networkOptions =
    engine.mtu === undefined ? {} : { Options: { 'com.docker.network.driver.mtu': String(engine.mtu) } };
  return {
    ...(network
      ? {
          network: {
            Name: network,
            Driver: 'bridge',
            CheckDuplicate: true,
            ...networkOptions,
            Labels: labels('network'),
          },
        }
      : {}),
    volumes,
    services,
    ...(dind ? { dind } : {}),
    agent,
    ...(ticketDir ? { ticketDir } : {}),
  };
}

/** dockerd flags for the pool's engine options; the image's entrypoint adds the TLS ones. */
export function engineArgs(o: DockerEngineOptions): string[] {
  return [
    ...(o.registryMirrors ?? []).map((m) => `--registry-mirror=${m}`),
    ...(o.insecureRegistries ?? []).map((r) => `--insecure-registry=${r}`),
    ...(o.mtu === undefined ? [] : [`--mtu=${o.mtu}`]),
    ...(o.storageDriver === undefined ? [] : [`--storage-driver=${o.storageDriver}`]),
  ];
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

/**
 * What a daemonless builder (buildah, chroot isolation) needs beyond the usual confinement, and
 * no more: it maps a user namespace (CAP_SETFCAP, and syscalls Docker's seccomp profile refuses
 * without CAP_SYS_ADMIN) — no device, no mount rights, no engine, nothing of the host's.
 */
function rootlessBuilderRights(): Dockerode.HostConfig {
  return {
    CapDrop: DROPPED_CAPABILITIES.filter((c) => c !== 'SETFCAP'),
    SecurityOpt: ['no-new-privileges', 'seccomp=unconfined'],
  };
}

/**
 * Tells buildah and podman which sandbox they are in: chroot isolation for `RUN`, vfs storage
 * (overlay needs mount rights the job has not), and that the namespace they would re-exec into
 * is the container itself.
 */
export const ROOTLESS_BUILDER_ENV = [
  'BUILDAH_ISOLATION=chroot',
  'STORAGE_DRIVER=vfs',
  '_CONTAINERS_USERNS_CONFIGURED=done',
];

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

/** The fleet's limits, lowered (never raised) by a container's `--cpus` and `--memory`. */
export function withinLimits(r: ResourceLimits = {}, o: ContainerOptions = {}): ResourceLimits {
  const lower = (a: number | undefined, b: number | undefined) =>
    a === undefined ? b : b === undefined ? a : Math.min(a, b);
  const cpus = lower(r.cpus, o.cpus);
  const memoryBytes = lower(r.memoryBytes, o.memoryBytes);
  return {
    ...r,
    ...(cpus === undefined ? {} : { cpus }),
    ...(memoryBytes === undefined ? {} : { memoryBytes }),
  };
}

/** `--hostname` and `--user` of `options:`. */
function optionsConfig(
  o: ContainerOptions = {},
): Pick<Dockerode.ContainerCreateOptions, 'Hostname' | 'User'> {
  return {
    ...(o.hostname === undefined ? {} : { Hostname: o.hostname }),
    ...(o.user === undefined ? {} : { User: o.user }),
  };
}

/** `--env` of `options:`, after `env:`, as `docker run` applies them. */
function optionsEnv(o: ContainerOptions = {}): string[] {
  return Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`);
}

/** `--shm-size` and `--ulimit` of `options:`. */
function optionsHostConfig(o: ContainerOptions = {}): Dockerode.HostConfig {
  return {
    ...(o.shmSizeBytes === undefined ? {} : { ShmSize: o.shmSizeBytes }),
    ...(o.ulimits === undefined
      ? {}
      : { Ulimits: o.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })) }),
  };
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
  // For the steps only: the agent sets it in their environment, its own start skips the parse.
  // An image's own bundle is handed over the same way, emptied for the agent (empty: not read).
  const imageCa = image.env
    .find((e) => e.startsWith('NODE_EXTRA_CA_CERTS='))
    ?.slice('NODE_EXTRA_CA_CERTS='.length);
  if (imageCa) env.push('NODE_EXTRA_CA_CERTS=', `${JOB_CA_CERTS_VARIABLE}=${imageCa}`);
  else if (!has('NODE_EXTRA_CA_CERTS')) env.push(`${JOB_CA_CERTS_VARIABLE}=${AGENT_CA_BUNDLE}`);
  if (!has('HOME') && !isRoot(image.user)) env.push(`HOME=${WORK_HOME}`);
  return env;
}

function isRoot(user: string): boolean {
  const name = user.split(':', 1)[0] ?? '';
  return name === '' || name === 'root' || name === '0';
}
