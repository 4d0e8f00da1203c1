import type {
  V1Container,
  V1OwnerReference,
  V1Pod,
  V1ResourceRequirements,
  V1Secret,
  V1SecurityContext,
  V1Volume,
} from '@kubernetes/client-node';
import {
  AGENT_BUSYBOX,
  AGENT_CA_BUNDLE,
  AGENT_IMAGE,
  AGENT_MOUNT,
  agentCommand,
  DIND_CLIENT_CERTS,
  DIND_IMAGE,
  DIND_READY_FILE,
} from '../images/index.js';
import type { ContainerOptions } from '../protocol/index.js';
import { SlipwayError } from '../shared/errors.js';
import {
  agentArgs,
  DOCKER_CERT_PATH,
  DROPPED_CAPABILITIES,
  engineArgs,
  jobDockerEnv,
  type ResourceLimits,
  TICKET_DIR,
  TICKET_PATH,
  WORK_HOME,
  WORK_MOUNT,
  withinLimits,
} from './container-spec.js';
import type { UnitRequest } from './driver.js';
import { LABEL, type UnitRole } from './labels.js';

/** The agent's container in a job pod; `wait` reports how this one ended. */
export const AGENT_CONTAINER = 'agent';
/** The init container that copies the agent runtime and the ticket into the pod's volumes. */
export const INJECT_CONTAINER = 'slipway-inject';
/** The job's own Docker engine (`docker: dind`), a sidecar. */
export const DIND_CONTAINER = 'docker';
/** The key of the ticket in its Secret. */
export const TICKET_KEY = 'ticket';
/** Where the init container sees the ticket Secret; the job's containers never mount it. */
const TICKET_SECRET_MOUNT = '/run/slipway-ticket-secret';
/** Where the init container sees the (still writable) volume the agent runtime is copied into. */
const INJECT_MOUNT = '/slipway-inject';
/** How long the job's engine may take to answer over TLS before the pod is given up, in seconds. */
const DIND_STARTUP_SECONDS = 60;

/** A pod spec cannot be made for this unit (a setting Kubernetes cannot honour). */
export class PodSpecError extends SlipwayError {}

export interface PodSpecOptions {
  /** Namespace the pod and its ticket Secret go to. */
  namespace: string;
  /** The coordinator as agents in pods reach it: a Service URL, e.g. `http://slipway:8420`. */
  serverUrl: string;
  /** Image holding the agent runtime, copied into the pod by an init container; default `slipway/agent:latest`. */
  agentImage?: string;
  /** Image of the job's engine (`docker: dind`); default `slipway/dind:latest`. */
  dindImage?: string;
  /** Limits of every container of the pod; default none. */
  resources?: ResourceLimits;
  /**
   * What the scheduler reserves per container; default the limits (CPU and memory given are
   * reserved, so a node is never promised more than it has), none when there are no limits.
   */
  requests?: { cpu?: string; memory?: string };
  /** Extra labels for the pod and its Secret (e.g. a test run's id); default none. */
  labels?: Record<string, string>;
  /** Owner of the job pods, so Kubernetes removes them with it (the fleet's pod or Deployment); default none. */
  owner?: V1OwnerReference;
  /** Added to the job's timeout for `activeDeadlineSeconds` (start, upload, cleanup), in seconds; default 600. */
  deadlineSlackSeconds?: number;
  /** SIGTERM to SIGKILL when a pod is deleted, in seconds; default 15. */
  terminationGraceSeconds?: number;
  /** `imagePullPolicy` of every container; default Kubernetes' own (IfNotPresent, Always for `:latest`). */
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Node selector of the job pods; default none. */
  nodeSelector?: Record<string, string>;
  /** Architecture of the agent runtime; default this process's. */
  arch?: string;
}

export interface PodSpec {
  pod: V1Pod;
  /** Name of the Secret the ticket goes in (`buildTicketSecret`), made once the pod exists. */
  ticketSecret: string;
}

/**
 * The pod of one unit: pure, so every rule is checked by a table test. The job's image runs the
 * agent, injected by an init container from the agent image into a volume the job sees
 * read-only; services and the job's engine are sidecars (native ones: init containers that keep
 * running, so they start before the agent and the pod ends when the agent does).
 */
export function buildPodSpec(unit: Omit<UnitRequest, 'ticket'>, o: PodSpecOptions): PodSpec {
  const docker = unit.docker ?? 'none';
  if (docker === 'socket') {
    throw new PodSpecError(
      "'docker: socket' is not available on a Kubernetes fleet (a node's engine socket is root on the node, and most nodes run containerd): use 'docker: dind' or 'docker: rootless'",
    );
  }
  const name = podName(unit.agentName, unit.unitId);
  const ticketSecret = `${name}-ticket`;
  const labels = unitLabels(unit, 'agent', o.labels);
  const pull = o.imagePullPolicy ? { imagePullPolicy: o.imagePullPolicy } : {};
  const resources = podResources(o);
  const jobOptions = podOptions(unit.options, 'the job container', o);
  const serviceOptions = Object.fromEntries(
    Object.entries(unit.services).map(([service, s]) => [
      service,
      podOptions(s.options, `service '${service}'`, o),
    ]),
  );
  if (unit.options?.hostname !== undefined && !DNS_LABEL.test(unit.options.hostname))
    throw new PodSpecError(
      `--hostname '${unit.options.hostname}' cannot be a pod's hostname on a Kubernetes fleet: use lowercase letters, digits and '-'`,
    );
  for (const service of Object.keys(unit.services)) {
    if (unit.services[service]?.options?.hostname !== undefined)
      throw new PodSpecError(
        `service '${service}': --hostname cannot be honoured on a Kubernetes fleet (the containers of a pod share one hostname, the job's); a service is reached by its name`,
      );
    if (!DNS_LABEL.test(service) || service === DIND_CONTAINER || service === AGENT_CONTAINER) {
      throw new PodSpecError(
        `service '${service}' cannot be a container name in a pod: use lowercase letters, digits and '-', not '${DIND_CONTAINER}' or '${AGENT_CONTAINER}'`,
      );
    }
  }

  const volumes: V1Volume[] = [
    // Disk-backed: node and its libraries are ~100 MB, too much to count against memory.
    { name: 'slipway-agent', emptyDir: {} },
    // Memory-backed: the ticket never touches the node's disk.
    { name: 'slipway-ticket', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    {
      name: 'slipway-ticket-secret',
      secret: { secretName: ticketSecret, defaultMode: 0o400, items: [{ key: TICKET_KEY, path: 'ticket' }] },
    },
    {
      name: 'slipway-work',
      emptyDir: o.resources?.diskBytes === undefined ? {} : { sizeLimit: String(o.resources.diskBytes) },
    },
  ];
  // Copies the runtime, moves the ticket from the Secret into the memory volume the agent may
  // delete it from, and opens the work folder to whatever user the job image runs as.
  const inject: V1Container = {
    name: INJECT_CONTAINER,
    image: o.agentImage ?? AGENT_IMAGE,
    ...pull,
    command: [
      AGENT_BUSYBOX,
      'sh',
      '-c',
      [
        'set -e',
        `cp -a ${AGENT_MOUNT}/. ${INJECT_MOUNT}/`,
        `cp ${TICKET_SECRET_MOUNT}/ticket ${TICKET_PATH}`,
        `chmod 0444 ${TICKET_PATH}`,
        `chmod 0777 ${TICKET_DIR}`,
        `mkdir -p ${WORK_HOME}`,
        `chmod 1777 ${WORK_MOUNT} ${WORK_HOME}`,
      ].join('\n'),
    ],
    securityContext: { ...confinement(), runAsUser: 0 },
    ...(resources ? { resources } : {}),
    volumeMounts: [
      { name: 'slipway-agent', mountPath: INJECT_MOUNT },
      { name: 'slipway-ticket', mountPath: TICKET_DIR },
      { name: 'slipway-ticket-secret', mountPath: TICKET_SECRET_MOUNT, readOnly: true },
      { name: 'slipway-work', mountPath: WORK_MOUNT },
    ],
  };

  const services = Object.entries(unit.services).map(
    ([service, s]): V1Container => ({
      name: service,
      image: s.image,
      ...pull,
      // A native sidecar: started before the agent, stopped after it.
      restartPolicy: 'Always',
      env: [...Object.entries(s.env), ...Object.entries(s.options?.env ?? {})].map(([k, v]) => ({
        name: k,
        value: v,
      })),
      securityContext: { ...confinement(), ...serviceOptions[service]?.securityContext },
      ...withResources(serviceOptions[service]?.resources ?? resources),
      ...withShm(serviceOptions[service], `slipway-shm-${service}`),
    }),
  );

  let dind: V1Container | undefined;
  if (docker === 'dind') {
    volumes.push(
      // The engine's storage: a disk volume, not the container's layer (overlay2 cannot stack on overlay2).
      { name: 'slipway-docker-storage', emptyDir: {} },
      // This job's TLS certificates, made by the engine's entrypoint: in memory, gone with the pod.
      { name: 'slipway-docker-certs', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    );
    dind = {
      name: DIND_CONTAINER,
      image: o.dindImage ?? DIND_IMAGE,
      ...pull,
      restartPolicy: 'Always',
      args: engineArgs(unit.dockerEngine ?? {}),
      // An engine needs what only a privileged container has on most clusters; the pool allows it.
      securityContext: { privileged: true },
      // The readiness gate: the agent (and the job's first step) starts once the engine answers
      // over TLS with the job's own client certificate.
      startupProbe: {
        exec: { command: ['test', '-f', DIND_READY_FILE] },
        periodSeconds: 1,
        failureThreshold: DIND_STARTUP_SECONDS,
      },
      ...(resources ? { resources } : {}),
      volumeMounts: [
        { name: 'slipway-docker-storage', mountPath: '/var/lib/docker' },
        { name: 'slipway-docker-certs', mountPath: DIND_CLIENT_CERTS },
      ],
    };
  }

  const args = agentArgs(unit, o.serverUrl);
  const dockerEnv = jobDockerEnv(docker);
  const agent: V1Container = {
    name: AGENT_CONTAINER,
    image: unit.image,
    ...pull,
    // `command` replaces the image's entrypoint and, with no `args`, its CMD too.
    command: agentCommand(args, o.arch),
    env: [
      // The image's environment is not known before the pod runs (no engine to inspect it):
      // the agent's bundle of CAs is given to Node only, as extra ones.
      `NODE_EXTRA_CA_CERTS=${AGENT_CA_BUNDLE}`,
      ...dockerEnv,
      ...Object.entries(unit.env ?? {}).map(([k, v]) => `${k}=${v}`),
      ...Object.entries(unit.options?.env ?? {}).map(([k, v]) => `${k}=${v}`),
    ].map(envVar),
    securityContext: {
      ...(docker === 'rootless' ? rootlessBuilderRights() : confinement()),
      ...jobOptions.securityContext,
    },
    ...withResources(jobOptions.resources ?? resources),
    volumeMounts: [
      ...(jobOptions.shmVolume ? [{ name: 'slipway-shm', mountPath: '/dev/shm' }] : []),
      { name: 'slipway-agent', mountPath: AGENT_MOUNT, readOnly: true },
      { name: 'slipway-ticket', mountPath: TICKET_DIR },
      { name: 'slipway-work', mountPath: WORK_MOUNT },
      ...(docker === 'dind'
        ? [{ name: 'slipway-docker-certs', mountPath: DOCKER_CERT_PATH, readOnly: true }]
        : []),
    ],
  };

  // Containers of a pod share one network namespace: services answer on localhost. Their names
  // (and `docker`) resolve there too, so pipelines written for Docker's per-job network work.
  const hostnames = [...Object.keys(unit.services), ...(dind ? [DIND_CONTAINER] : [])];
  const timeout = unit.timeoutMinutes;
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace,
      labels,
      ...(o.owner ? { ownerReferences: [o.owner] } : {}),
    },
    spec: {
      restartPolicy: 'Never',
      // The namespace's service account token would be the job's to read; agents need none.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: o.terminationGraceSeconds ?? 15,
      ...(timeout !== undefined && timeout > 0
        ? { activeDeadlineSeconds: Math.ceil(timeout * 60) + (o.deadlineSlackSeconds ?? 600) }
        : {}),
      ...(hostnames.length > 0 ? { hostAliases: [{ ip: '127.0.0.1', hostnames }] } : {}),
      ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
      ...(unit.options?.hostname === undefined ? {} : { hostname: unit.options.hostname }),
      initContainers: [inject, ...services, ...(dind ? [dind] : [])],
      containers: [agent],
      volumes: [
        ...volumes,
        ...(jobOptions.shmVolume ? [{ name: 'slipway-shm', emptyDir: jobOptions.shmVolume }] : []),
        ...Object.entries(serviceOptions).flatMap(([service, so]) =>
          so.shmVolume ? [{ name: `slipway-shm-${service}`, emptyDir: so.shmVolume }] : [],
        ),
      ],
    },
  };
  return { pod, ticketSecret };
}

/**
 * The ticket's Secret, owned by its pod: Kubernetes deletes it with the pod even when the fleet
 * is gone. Only the pod's init container mounts it.
 */
export function buildTicketSecret(
  spec: PodSpec,
  owner: { name: string; uid: string },
  ticket: string,
): V1Secret {
  const labels = { ...spec.pod.metadata?.labels, [LABEL.role]: 'ticket' };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: spec.ticketSecret,
      namespace: spec.pod.metadata?.namespace,
      labels,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: owner.name, uid: owner.uid }],
    },
    type: 'Opaque',
    immutable: true,
    data: { [TICKET_KEY]: Buffer.from(`${ticket}\n`).toString('base64') },
  };
}

/** A DNS-1123 label (container names, pod name parts). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A label value: at most 63 characters, alphanumerics at both ends, `-_.` between. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** `slipway-<agent>-<unit>`, lowercased and within the 63 characters a pod's hostname may have. */
export function podName(agentName: string, unitId: string): string {
  const agent = agentName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const suffix = `-${unitId.toLowerCase()}`;
  const head = `slipway-${agent}`.slice(0, 63 - suffix.length).replace(/-+$/, '');
  return `${head}${suffix}`;
}

/** The selector of a fleet's objects (or one unit's), as `labelSelector` takes it. */
export function labelSelector(fleetId: string, unitId?: string, role?: UnitRole | 'ticket'): string {
  return [
    `${LABEL.managed}=true`,
    `${LABEL.fleet}=${fleetId}`,
    ...(unitId === undefined ? [] : [`${LABEL.unit}=${unitId}`]),
    ...(role === undefined ? [] : [`${LABEL.role}=${role}`]),
  ].join(',');
}

function unitLabels(
  unit: Omit<UnitRequest, 'ticket'>,
  role: UnitRole,
  extra: Record<string, string> = {},
): Record<string, string> {
  const labels: Record<string, string> = {
    ...extra,
    [LABEL.managed]: 'true',
    [LABEL.fleet]: unit.fleetId,
    [LABEL.pool]: unit.pool,
    [LABEL.agent]: unit.agentName,
    [LABEL.unit]: unit.unitId,
    ...(unit.jobId === undefined ? {} : { [LABEL.job]: unit.jobId }),
    [LABEL.role]: role,
  };
  for (const [key, value] of Object.entries(labels)) {
    if (!LABEL_VALUE.test(value)) {
      throw new PodSpecError(
        `label ${key}=${value} is not a Kubernetes label value (at most 63 letters, digits, '-', '_' or '.', a letter or digit at each end)`,
      );
    }
  }
  return labels;
}

/** What a container's `options:` become in a pod. */
interface PodOptions {
  securityContext?: V1SecurityContext;
  /** Requests and limits when `--cpus` or `--memory` lowered the fleet's. */
  resources?: V1ResourceRequirements;
  /** `--shm-size`: a memory-backed volume at /dev/shm. */
  shmVolume?: { medium: 'Memory'; sizeLimit: string };
}

/**
 * A container's `options:` in a pod: `--env` as env, `--cpus`/`--memory` as lower limits,
 * `--shm-size` as a memory volume at /dev/shm, a numeric `--user` as runAsUser/runAsGroup.
 * What Kubernetes cannot express is refused, naming the option: `--ulimit` (no per-container
 * limits in a pod) and a `--user` given by name (a pod takes numbers only).
 */
function podOptions(options: ContainerOptions | undefined, what: string, o: PodSpecOptions): PodOptions {
  if (options === undefined) return {};
  if (options.ulimits !== undefined)
    throw new PodSpecError(
      `${what}: --ulimit cannot be honoured on a Kubernetes fleet (a pod sets no per-container limits): set it in the image or run the job on a Docker fleet`,
    );
  let securityContext: V1SecurityContext | undefined;
  if (options.user !== undefined) {
    const m = /^(\d+)(?::(\d+))?$/.exec(options.user);
    if (!m)
      throw new PodSpecError(
        `${what}: --user '${options.user}' must be numeric (uid[:gid]) on a Kubernetes fleet, which cannot look names up in the image`,
      );
    securityContext = {
      runAsUser: Number(m[1]),
      ...(m[2] === undefined ? {} : { runAsGroup: Number(m[2]) }),
    };
  }
  const lowered =
    options.cpus !== undefined || options.memoryBytes !== undefined
      ? podResources({ ...o, resources: withinLimits(o.resources, options) })
      : undefined;
  return {
    ...(securityContext ? { securityContext } : {}),
    ...(lowered ? { resources: lowered } : {}),
    ...(options.shmSizeBytes === undefined
      ? {}
      : { shmVolume: { medium: 'Memory' as const, sizeLimit: String(options.shmSizeBytes) } }),
  };
}

function withResources(resources: V1ResourceRequirements | undefined): {
  resources?: V1ResourceRequirements;
} {
  return resources ? { resources } : {};
}

function withShm(options: PodOptions | undefined, volume: string): Pick<V1Container, 'volumeMounts'> {
  return options?.shmVolume ? { volumeMounts: [{ name: volume, mountPath: '/dev/shm' }] } : {};
}

/** Requests and limits of each container, from the fleet's limits. */
function podResources(o: PodSpecOptions): V1ResourceRequirements | undefined {
  const r = o.resources ?? {};
  const limits: Record<string, string> = {
    ...(r.cpus === undefined ? {} : { cpu: `${Math.round(r.cpus * 1000)}m` }),
    ...(r.memoryBytes === undefined ? {} : { memory: String(r.memoryBytes) }),
    ...(r.diskBytes === undefined ? {} : { 'ephemeral-storage': String(r.diskBytes) }),
  };
  const requests: Record<string, string> = {
    ...(limits.cpu ? { cpu: limits.cpu } : {}),
    ...(limits.memory ? { memory: limits.memory } : {}),
    ...o.requests,
  };
  if (Object.keys(limits).length === 0 && Object.keys(requests).length === 0) return undefined;
  return {
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
    ...(Object.keys(requests).length > 0 ? { requests } : {}),
  };
}

/** Docker's defaults minus a few capabilities, no setuid escalation, the runtime's seccomp profile. */
function confinement(): V1SecurityContext {
  return {
    privileged: false,
    allowPrivilegeEscalation: false,
    capabilities: { drop: DROPPED_CAPABILITIES },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** What a daemonless builder needs (see `rootlessBuilderRights` of the Docker spec): SETFCAP, no seccomp filter. */
function rootlessBuilderRights(): V1SecurityContext {
  return {
    privileged: false,
    allowPrivilegeEscalation: false,
    capabilities: { drop: DROPPED_CAPABILITIES.filter((c) => c !== 'SETFCAP') },
    seccompProfile: { type: 'Unconfined' },
  };
}

function envVar(pair: string): { name: string; value: string } {
  const eq = pair.indexOf('=');
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1) };
}
