import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { Pod, Secret } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { agentCommand, DIND_CLIENT_CERTS, DIND_READY_FILE } from '../images/index.js';
import {
  DIND_HOST,
  DOCKER_CERT_PATH,
  DROPPED_CAPABILITIES,
  TICKET_PATH,
  WORK_DIR,
} from './container-spec.js';
import type { UnitRequest } from './driver.js';
import { LABEL } from './labels.js';
import {
  AGENT_CONTAINER,
  buildPodSpec,
  buildTicketSecret,
  DIND_CONTAINER,
  INJECT_CONTAINER,
  type PodSpec,
  PodSpecError,
  type PodSpecOptions,
  podName,
} from './pod-spec.js';

type Unit = Omit<UnitRequest, 'ticket'>;

const unit: Unit = {
  unitId: 'u1',
  fleetId: 'fleet-a',
  pool: 'default',
  agentName: 'default-1',
  image: 'slipway/base:latest',
  services: {},
};
const options: PodSpecOptions = { namespace: 'ci', serverUrl: 'http://slipway:8420', arch: 'x64' };

function spec(change: (u: Unit, o: PodSpecOptions) => void = () => undefined): PodSpec {
  const u = structuredClone(unit);
  const o = structuredClone(options);
  change(u, o);
  const made = buildPodSpec(u, o);
  // Every spec is one the Kubernetes schemas accept.
  new Pod(made.pod as never).validate();
  return made;
}

const container = (pod: V1Pod, name: string): V1Container => {
  const found = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find(
    (c) => c.name === name,
  );
  if (!found) throw new Error(`no container ${name}`);
  return found;
};
const agent = (s: PodSpec) => container(s.pod, AGENT_CONTAINER);
const env = (c: V1Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
const mounts = (c: V1Container) => Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
const volume = (s: PodSpec, name: string) => s.pod.spec?.volumes?.find((v) => v.name === name);

describe('buildPodSpec', () => {
  it.each<[string, (u: Unit, o: PodSpecOptions) => void, (s: PodSpec) => void]>([
    [
      'runs the injected agent in the job image with a ticket file, reaching the server by URL',
      () => undefined,
      (s) => {
        expect(s.pod.spec?.containers.map((c) => c.name)).toEqual([AGENT_CONTAINER]);
        expect(agent(s).image).toBe('slipway/base:latest');
        expect(agent(s).command).toEqual(
          agentCommand(
            [
              'agent',
              'run',
              '--url',
              'http://slipway:8420',
              '--ticket-file',
              TICKET_PATH,
              '--pool',
              'default',
              '--name',
              'default-1',
              '--work',
              WORK_DIR,
              '--capability',
              'Slipway.Image=slipway/base:latest',
            ],
            'x64',
          ),
        );
        expect(agent(s).args).toBeUndefined();
        expect(s.pod.spec?.restartPolicy).toBe('Never');
      },
    ],
    [
      'copies the agent runtime in an init container from the agent image; the job sees it read-only',
      () => undefined,
      (s) => {
        const inject = container(s.pod, INJECT_CONTAINER);
        expect(s.pod.spec?.initContainers?.[0]?.name).toBe(INJECT_CONTAINER);
        expect(inject.image).toBe('slipway/agent:latest');
        expect(inject.restartPolicy).toBeUndefined();
        expect(inject.command?.join(' ')).toContain('cp -a /slipway/. /slipway-inject/');
        expect(mounts(inject)['/slipway-inject']?.name).toBe('slipway-agent');
        expect(mounts(agent(s))['/slipway']).toMatchObject({ name: 'slipway-agent', readOnly: true });
        expect(volume(s, 'slipway-agent')?.emptyDir).toEqual({});
      },
    ],
    [
      'the ticket: a Secret only the init container mounts, moved to a memory volume the agent may delete it from',
      () => undefined,
      (s) => {
        expect(s.ticketSecret).toBe('slipway-default-1-u1-ticket');
        expect(volume(s, 'slipway-ticket-secret')?.secret?.secretName).toBe(s.ticketSecret);
        expect(volume(s, 'slipway-ticket')?.emptyDir?.medium).toBe('Memory');
        const inject = container(s.pod, INJECT_CONTAINER);
        expect(Object.values(mounts(inject)).map((m) => m.name)).toContain('slipway-ticket-secret');
        expect(Object.values(mounts(agent(s))).map((m) => m.name)).not.toContain('slipway-ticket-secret');
        expect(mounts(agent(s))['/run/slipway-ticket']?.name).toBe('slipway-ticket');
        // Never in the environment or on a command line.
        expect(JSON.stringify(agent(s).env)).not.toMatch(/ticket/i);
        expect(s.pod.spec?.automountServiceAccountToken).toBe(false);
        expect(s.pod.spec?.enableServiceLinks).toBe(false);
      },
    ],
    [
      'labels the pod with the fleet, pool, agent, unit, job and role; extra labels too',
      (u, o) => {
        u.jobId = 'job_1';
        o.labels = { 'slipway.test': 'run-1' };
      },
      (s) => {
        expect(s.pod.metadata?.labels).toEqual({
          'slipway.test': 'run-1',
          [LABEL.managed]: 'true',
          [LABEL.fleet]: 'fleet-a',
          [LABEL.pool]: 'default',
          [LABEL.agent]: 'default-1',
          [LABEL.unit]: 'u1',
          [LABEL.job]: 'job_1',
          [LABEL.role]: 'agent',
        });
        expect(s.pod.metadata?.namespace).toBe('ci');
      },
    ],
    [
      'confines every container: no privilege, no escalation, capabilities dropped, the runtime seccomp profile',
      (u) => {
        u.services = { cache: { image: 'redis:7', env: {}, ports: [] } };
      },
      (s) => {
        for (const name of [AGENT_CONTAINER, 'cache', INJECT_CONTAINER]) {
          expect(container(s.pod, name).securityContext).toMatchObject({
            privileged: false,
            allowPrivilegeEscalation: false,
            capabilities: { drop: DROPPED_CAPABILITIES },
            seccompProfile: { type: 'RuntimeDefault' },
          });
        }
      },
    ],
    [
      'services are native sidecars, reachable on localhost and by their names',
      (u) => {
        u.jobId = 'job_1';
        u.services = {
          cache: { image: 'redis:7', env: { MODE: 'test' }, ports: ['6379'] },
          web: { image: 'nginx', env: {}, ports: [] },
        };
      },
      (s) => {
        expect(s.pod.spec?.initContainers?.map((c) => c.name)).toEqual([INJECT_CONTAINER, 'cache', 'web']);
        expect(container(s.pod, 'cache')).toMatchObject({ image: 'redis:7', restartPolicy: 'Always' });
        expect(env(container(s.pod, 'cache'))).toEqual({ MODE: 'test' });
        expect(s.pod.spec?.hostAliases).toEqual([{ ip: '127.0.0.1', hostnames: ['cache', 'web'] }]);
      },
    ],
    [
      'docker: dind — a privileged engine sidecar, gated by its TLS readiness, certificates in memory',
      (u) => {
        u.docker = 'dind';
        u.dockerEngine = { registryMirrors: ['http://mirror:5000'], mtu: 1400 };
      },
      (s) => {
        const dind = container(s.pod, DIND_CONTAINER);
        expect(dind).toMatchObject({ image: 'slipway/dind:latest', restartPolicy: 'Always' });
        expect(dind.args).toEqual(['--registry-mirror=http://mirror:5000', '--mtu=1400']);
        expect(dind.securityContext?.privileged).toBe(true);
        expect(dind.startupProbe?.exec?.command).toEqual(['test', '-f', DIND_READY_FILE]);
        expect(mounts(dind)[DIND_CLIENT_CERTS]?.name).toBe('slipway-docker-certs');
        expect(mounts(dind)['/var/lib/docker']?.name).toBe('slipway-docker-storage');
        expect(volume(s, 'slipway-docker-certs')?.emptyDir?.medium).toBe('Memory');
        expect(mounts(agent(s))[DOCKER_CERT_PATH]).toMatchObject({
          name: 'slipway-docker-certs',
          readOnly: true,
        });
        expect(env(agent(s))).toMatchObject({
          DOCKER_HOST: DIND_HOST,
          DOCKER_TLS_VERIFY: '1',
          DOCKER_CERT_PATH,
        });
        expect(s.pod.spec?.hostAliases).toEqual([{ ip: '127.0.0.1', hostnames: ['docker'] }]);
        // The job's own container stays unprivileged.
        expect(agent(s).securityContext?.privileged).toBe(false);
      },
    ],
    [
      'docker: rootless — SETFCAP kept and seccomp Unconfined for the builder, nothing else',
      (u) => {
        u.docker = 'rootless';
      },
      (s) => {
        expect(agent(s).securityContext).toEqual({
          privileged: false,
          allowPrivilegeEscalation: false,
          capabilities: { drop: DROPPED_CAPABILITIES.filter((c) => c !== 'SETFCAP') },
          seccompProfile: { type: 'Unconfined' },
        });
        expect(env(agent(s))).toMatchObject({ BUILDAH_ISOLATION: 'chroot', STORAGE_DRIVER: 'vfs' });
        expect(s.pod.spec?.initContainers?.map((c) => c.name)).toEqual([INJECT_CONTAINER]);
      },
    ],
    [
      'requests and limits from the fleet limits; the work folder bounded by --disk',
      (_u, o) => {
        o.resources = { cpus: 1.5, memoryBytes: 2 * 1024 ** 3, diskBytes: 4 * 1024 ** 3 };
      },
      (s) => {
        expect(agent(s).resources).toEqual({
          limits: { cpu: '1500m', memory: String(2 * 1024 ** 3), 'ephemeral-storage': String(4 * 1024 ** 3) },
          requests: { cpu: '1500m', memory: String(2 * 1024 ** 3) },
        });
        expect(volume(s, 'slipway-work')?.emptyDir?.sizeLimit).toBe(String(4 * 1024 ** 3));
      },
    ],
    [
      'requests given apart from the limits',
      (_u, o) => {
        o.resources = { cpus: 2 };
        o.requests = { cpu: '250m', memory: '256Mi' };
      },
      (s) => {
        expect(agent(s).resources).toEqual({
          limits: { cpu: '2000m' },
          requests: { cpu: '250m', memory: '256Mi' },
        });
      },
    ],
    [
      'no limits given: no resources at all',
      () => undefined,
      (s) => expect(agent(s).resources).toBeUndefined(),
    ],
    [
      'activeDeadlineSeconds from the job timeout, plus the slack',
      (u) => {
        u.jobId = 'job_1';
        u.timeoutMinutes = 10;
      },
      (s) => expect(s.pod.spec?.activeDeadlineSeconds).toBe(600 + 600),
    ],
    [
      'no deadline for a warm agent or a job without a timeout (0)',
      (u) => {
        u.timeoutMinutes = 0;
      },
      (s) => expect(s.pod.spec?.activeDeadlineSeconds).toBeUndefined(),
    ],
    [
      'an owner reference, when the fleet knows its own',
      (_u, o) => {
        o.owner = { apiVersion: 'v1', kind: 'Pod', name: 'slipway-fleet-abc', uid: 'uid-1' };
      },
      (s) =>
        expect(s.pod.metadata?.ownerReferences).toEqual([
          { apiVersion: 'v1', kind: 'Pod', name: 'slipway-fleet-abc', uid: 'uid-1' },
        ]),
    ],
    [
      'the job container environment is passed on',
      (u) => {
        u.env = { FOO: 'bar' };
      },
      (s) => expect(env(agent(s))).toMatchObject({ FOO: 'bar' }),
    ],
    [
      "the job container's options: hostname, env, a numeric user, /dev/shm, lower limits",
      (u, o) => {
        o.resources = { cpus: 2, memoryBytes: 2 * 1024 ** 3 };
        u.options = {
          hostname: 'box',
          env: { MODE: 'option' },
          user: '1000:1001',
          shmSizeBytes: 1024 ** 3,
          cpus: 4,
          memoryBytes: 1024 ** 3,
        };
      },
      (s) => {
        expect(s.pod.spec?.hostname).toBe('box');
        expect(env(agent(s))).toMatchObject({ MODE: 'option' });
        expect(agent(s).securityContext).toMatchObject({
          runAsUser: 1000,
          runAsGroup: 1001,
          privileged: false,
          allowPrivilegeEscalation: false,
        });
        expect(agent(s).volumeMounts).toContainEqual({ name: 'slipway-shm', mountPath: '/dev/shm' });
        expect(s.pod.spec?.volumes).toContainEqual({
          name: 'slipway-shm',
          emptyDir: { medium: 'Memory', sizeLimit: String(1024 ** 3) },
        });
        expect(agent(s).resources?.limits).toEqual({ cpu: '2000m', memory: String(1024 ** 3) });
      },
    ],
    [
      "a service's options apply to its container alone",
      (u) => {
        u.services = {
          db: {
            image: 'postgres',
            env: { A: '1' },
            ports: [],
            options: { env: { B: '2' }, shmSizeBytes: 1024 },
          },
        };
      },
      (s) => {
        const db = s.pod.spec?.initContainers?.find((c) => c.name === 'db');
        expect(db?.env).toEqual([
          { name: 'A', value: '1' },
          { name: 'B', value: '2' },
        ]);
        expect(db?.volumeMounts).toEqual([{ name: 'slipway-shm-db', mountPath: '/dev/shm' }]);
        expect(agent(s).volumeMounts?.some((m) => m.mountPath === '/dev/shm')).toBe(false);
      },
    ],
  ])('%s', (_name, change, check) => {
    check(spec(change));
  });

  it.each<[string, (u: Unit) => void, RegExp]>([
    [
      '--ulimit, which a pod cannot set',
      (u) => {
        u.options = { ulimits: [{ name: 'nofile', soft: 1, hard: 1 }] };
      },
      /^the job container: --ulimit cannot be honoured on a Kubernetes fleet/,
    ],
    [
      'a --user by name',
      (u) => {
        u.services = { db: { image: 'postgres', env: {}, ports: [], options: { user: 'postgres' } } };
      },
      /^service 'db': --user 'postgres' must be numeric \(uid\[:gid\]\) on a Kubernetes fleet/,
    ],
    [
      "a service's --hostname",
      (u) => {
        u.services = { db: { image: 'postgres', env: {}, ports: [], options: { hostname: 'x' } } };
      },
      /^service 'db': --hostname cannot be honoured on a Kubernetes fleet/,
    ],
    [
      'a hostname that is no DNS label',
      (u) => {
        u.options = { hostname: 'Build.Box' };
      },
      /--hostname 'Build.Box' cannot be a pod's hostname/,
    ],
    [
      'docker: socket',
      (u) => {
        u.docker = 'socket';
      },
      /'docker: socket' is not available on a Kubernetes fleet/,
    ],
    [
      'a service whose name is not a container name',
      (u) => {
        u.services = { My_Cache: { image: 'redis', env: {}, ports: [] } };
      },
      /service 'My_Cache' cannot be a container name/,
    ],
    [
      'a service named like the engine',
      (u) => {
        u.services = { docker: { image: 'docker:dind', env: {}, ports: [] } };
      },
      /service 'docker'/,
    ],
    [
      'a fleet id that is no label value',
      (u) => {
        u.fleetId = 'fleet a/b';
      },
      /label slipway.fleet=fleet a\/b is not a Kubernetes label value/,
    ],
  ])('refuses %s, saying why', (_name, change, message) => {
    const u = structuredClone(unit);
    change(u);
    expect(() => buildPodSpec(u, options)).toThrow(PodSpecError);
    expect(() => buildPodSpec(u, options)).toThrow(message);
  });

  it('pod names are DNS labels of at most 63 characters, whatever the agent name', () => {
    expect(podName('Default_Pool-3', 'ab12')).toBe('slipway-default-pool-3-ab12');
    const long = podName('x'.repeat(100), '0123456789');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(long.endsWith('-0123456789')).toBe(true);
  });

  it('the ticket Secret is owned by its pod, immutable, labelled, and holds the ticket', () => {
    const s = spec((u) => {
      u.jobId = 'job_1';
    });
    const secret = buildTicketSecret(s, { name: s.pod.metadata!.name!, uid: 'pod-uid' }, 'tkt_secret');
    new Secret(secret as never).validate();
    expect(secret.metadata?.name).toBe(s.ticketSecret);
    expect(secret.metadata?.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'Pod', name: 'slipway-default-1-u1', uid: 'pod-uid' },
    ]);
    expect(secret.immutable).toBe(true);
    expect(secret.metadata?.labels?.[LABEL.role]).toBe('ticket');
    expect(secret.metadata?.labels?.[LABEL.unit]).toBe('u1');
    expect(Buffer.from(secret.data!.ticket!, 'base64').toString()).toBe('tkt_secret\n');
  });
});
