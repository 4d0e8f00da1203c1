import { dirname } from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { describe, expect, it } from 'vitest';
import { agentCommand } from '../images/index.js';
import {
  AGENT_URL,
  buildContainerSpec,
  type ContainerSpec,
  type ContainerSpecInput,
  DROPPED_CAPABILITIES,
  fleetNetworkSpec,
  TICKET_PATH,
  WORK_DIR,
} from './container-spec.js';
import { ticketArchive } from './ticket-archive.js';

const base: ContainerSpecInput = {
  unit: {
    unitId: 'u1',
    fleetId: 'fleet-a',
    pool: 'default',
    agentName: 'default-1',
    image: 'slipway/base:latest',
    services: {},
  },
  image: { env: ['PATH=/usr/bin:/bin', 'HOME=/root'], user: '' },
  agentVolume: 'slipway-agent-abc',
  serverSocket: '/data/agent.sock',
  arch: 'x64',
};

function spec(change: (input: ContainerSpecInput) => void = () => undefined): ContainerSpec {
  const input = structuredClone(base);
  change(input);
  return buildContainerSpec(input);
}

const withServices = (input: ContainerSpecInput) => {
  input.unit.jobId = 'job_1';
  input.unit.image = 'busybox-only:1';
  input.unit.services = {
    cache: { image: 'redis:7', env: { MODE: 'test' }, ports: ['6379'] },
    web: { image: 'nginx', env: {}, ports: [] },
  };
};

describe('buildContainerSpec', () => {
  it.each<[string, (i: ContainerSpecInput) => void, (s: ContainerSpec) => void]>([
    [
      'runs the injected agent in the job image with a ticket file, over the socket',
      () => undefined,
      (s) => {
        expect(s.agent.Image).toBe('slipway/base:latest');
        expect(s.agent.Entrypoint).toEqual(
          agentCommand(
            [
              'agent',
              'run',
              '--url',
              AGENT_URL,
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
        expect(s.agent.Cmd).toBeUndefined();
        expect(AGENT_URL).toBe('unix:///run/slipway/agent.sock');
      },
    ],
    [
      'mounts the runtime read-only, the server socket read-only, and a work volume',
      () => undefined,
      (s) => {
        expect(s.agent.HostConfig?.Mounts).toEqual([
          {
            Type: 'volume',
            Source: 'slipway-agent-abc',
            Target: '/slipway',
            ReadOnly: true,
            VolumeOptions: { NoCopy: true },
          },
          { Type: 'bind', Source: '/data/agent.sock', Target: '/run/slipway/agent.sock', ReadOnly: true },
          expect.objectContaining({ Type: 'volume', Target: '/slipway-work' }),
        ]);
        expect(s.agent.HostConfig?.Mounts?.[2]?.Source).toBeUndefined();
        expect(s.agent.HostConfig?.PortBindings).toBeUndefined();
        expect(s.agent.ExposedPorts).toBeUndefined();
      },
    ],
    [
      'without a ticket root, leaves the ticket to an upload (no ticket directory, no bind)',
      () => undefined,
      (s) => {
        expect(s.ticketDir).toBeUndefined();
        expect(s.agent.HostConfig?.Mounts?.map((m) => m.Target)).not.toContain(dirname(TICKET_PATH));
      },
    ],
    [
      'gives a root agent a ticket directory of its own on the host, bound writable at the ticket path',
      (i) => {
        i.ticketRoot = '/tmp/tickets-x';
      },
      (s) => {
        expect(s.ticketDir).toBe('/tmp/tickets-x/u1');
        expect(s.agent.HostConfig?.Mounts).toContainEqual({
          Type: 'bind',
          Source: '/tmp/tickets-x/u1',
          Target: dirname(TICKET_PATH),
        });
      },
    ],
    [
      'uploads the ticket for a non-root agent (the upload also opens the work volume to it)',
      (i) => {
        i.ticketRoot = '/tmp/tickets-x';
        i.image.user = '1000:1000';
      },
      (s) => {
        expect(s.ticketDir).toBeUndefined();
        expect(JSON.stringify(s.agent)).not.toContain('/tmp/tickets-x');
      },
    ],
    [
      'uploads it too when the job runs the image as another user (options: --user)',
      (i) => {
        i.ticketRoot = '/tmp/tickets-x';
        i.unit.options = { user: 'nobody' };
      },
      (s) => expect(s.ticketDir).toBeUndefined(),
    ],
    [
      'confines every container: no privileges, dropped capabilities, no-new-privileges, init',
      withServices,
      (s) => {
        for (const c of [s.agent, ...s.services]) {
          expect(c.HostConfig).toMatchObject({
            Privileged: false,
            CapDrop: DROPPED_CAPABILITIES,
            SecurityOpt: ['no-new-privileges'],
            Init: true,
            RestartPolicy: { Name: 'no' },
          });
          expect(c.HostConfig?.CapAdd).toBeUndefined();
          expect(JSON.stringify(c)).not.toContain('docker.sock');
        }
        expect(DROPPED_CAPABILITIES).toContain('NET_RAW');
      },
    ],
    [
      'labels the agent with fleet, pool, agent, unit and role; no job label when unbound',
      (i) => {
        i.labels = { 'slipway.test': 'run-1' };
      },
      (s) => {
        expect(s.agent.Labels).toEqual({
          'slipway.test': 'run-1',
          'slipway.managed': 'true',
          'slipway.fleet': 'fleet-a',
          'slipway.pool': 'default',
          'slipway.agent': 'default-1',
          'slipway.unit': 'u1',
          'slipway.role': 'agent',
        });
        expect(s.agent.name).toBe('slipway-default-1-u1');
        expect(s.network).toBeUndefined();
        expect(s.agent.HostConfig?.NetworkMode).toBe('bridge');
      },
    ],
    [
      'puts units without services on the fleet network, where containers cannot reach each other',
      (i) => {
        i.fleetNetwork = 'slipway-fleet-fleet-a';
      },
      (s) => {
        expect(s.agent.HostConfig?.NetworkMode).toBe('slipway-fleet-fleet-a');
        expect(s.network).toBeUndefined();
        expect(s.agent.NetworkingConfig).toBeUndefined();
      },
    ],
    [
      'sets only non-secret env, and only what the image does not set itself',
      () => undefined,
      (s) =>
        expect(s.agent.Env).toEqual(['SLIPWAY_JOB_NODE_EXTRA_CA_CERTS=/slipway/certs/ca-certificates.crt']),
    ],
    [
      'gives a non-root image without HOME a writable one',
      (i) => {
        i.image = { env: ['PATH=/bin', 'NODE_EXTRA_CA_CERTS=/etc/ca.pem'], user: '1000:1000' };
      },
      (s) =>
        expect(s.agent.Env).toEqual([
          'NODE_EXTRA_CA_CERTS=',
          'SLIPWAY_JOB_NODE_EXTRA_CA_CERTS=/etc/ca.pem',
          'HOME=/slipway-work/home',
        ]),
    ],
    [
      'leaves a root image without HOME to the engine',
      (i) => {
        i.image = { env: [], user: 'root' };
      },
      (s) =>
        expect(s.agent.Env).toEqual(['SLIPWAY_JOB_NODE_EXTRA_CA_CERTS=/slipway/certs/ca-certificates.crt']),
    ],
    [
      'puts services on a private labelled network, reachable by their names',
      (i) => {
        withServices(i);
        i.fleetNetwork = 'slipway-fleet-fleet-a';
      },
      (s) => {
        const net = 'slipway-default-1-u1';
        expect(s.network).toEqual({
          Name: net,
          Driver: 'bridge',
          CheckDuplicate: true,
          Labels: expect.objectContaining({
            'slipway.role': 'network',
            'slipway.job': 'job_1',
            'slipway.unit': 'u1',
          }),
        });
        expect(s.agent.HostConfig?.NetworkMode).toBe(net);
        expect(s.agent.NetworkingConfig).toEqual({ EndpointsConfig: { [net]: { Aliases: [] } } });
        expect(s.agent.Labels).toMatchObject({ 'slipway.job': 'job_1', 'slipway.role': 'agent' });
        expect(s.services.map((c) => [c.name, c.Image, c.Env, c.HostConfig?.NetworkMode])).toEqual([
          [`${net}-cache`, 'redis:7', ['MODE=test'], net],
          [`${net}-web`, 'nginx', [], net],
        ]);
        expect(s.services[0]!.NetworkingConfig).toEqual({
          EndpointsConfig: { [net]: { Aliases: ['cache'] } },
        });
        expect(s.services[0]!.Labels).toMatchObject({
          'slipway.role': 'service',
          'slipway.service': 'cache',
        });
        expect(s.services[0]!.Entrypoint).toBeUndefined();
        expect(s.agent.Entrypoint).toContain('Slipway.Image=busybox-only:1');
      },
    ],
    [
      'applies the resource limits to every container, with swap off',
      (i) => {
        withServices(i);
        i.resources = { cpus: 1.5, memoryBytes: 512 * 1024 ** 2, pids: 256 };
      },
      (s) => {
        for (const c of [s.agent, ...s.services]) {
          expect(c.HostConfig).toMatchObject({
            NanoCpus: 1_500_000_000,
            Memory: 536_870_912,
            MemorySwap: 536_870_912,
            PidsLimit: 256,
          });
        }
      },
    ],
    [
      'sets no limits that were not asked for',
      () => undefined,
      (s) => {
        expect(s.agent.HostConfig?.NanoCpus).toBeUndefined();
        expect(s.agent.HostConfig?.Memory).toBeUndefined();
        expect(s.agent.HostConfig?.PidsLimit).toBeUndefined();
      },
    ],
    [
      'bounds the work folder and /tmp as tmpfs when a disk size is given, with no work volume',
      (i) => {
        i.resources = { diskBytes: 1024 ** 3 };
      },
      (s) => {
        const options = `rw,exec,nosuid,nodev,size=${1024 ** 3},mode=1777`;
        expect(s.agent.HostConfig?.Tmpfs).toEqual({ '/slipway-work': options, '/tmp': options });
        expect(s.agent.HostConfig?.Mounts?.some((m) => m.Target === '/slipway-work')).toBe(false);
      },
    ],
    [
      'docker: dind adds the job engine on a private network as `docker`, with its own volumes',
      (i) => {
        i.unit.jobId = 'job_1';
        i.unit.docker = 'dind';
      },
      (s) => {
        const net = 'slipway-default-1-u1';
        expect(s.network?.Name).toBe(net);
        expect(s.dind?.Image).toBe('slipway/dind:latest');
        expect(s.dind?.name).toBe(`${net}-docker`);
        expect(s.dind?.HostConfig?.NetworkMode).toBe(net);
        expect(s.dind?.NetworkingConfig?.EndpointsConfig?.[net]?.Aliases).toEqual(['docker']);
        expect(s.agent.HostConfig?.NetworkMode).toBe(net);
        expect(s.volumes.map((v) => v.Name)).toEqual([`${net}-docker-storage`, `${net}-docker-certs`]);
        for (const v of s.volumes) {
          expect(v.Labels).toMatchObject({
            'slipway.managed': 'true',
            'slipway.unit': 'u1',
            'slipway.job': 'job_1',
          });
        }
        expect(s.dind?.Labels).toMatchObject({
          'slipway.role': 'dind',
          'slipway.unit': 'u1',
          'slipway.fleet': 'fleet-a',
        });
        expect(s.dind?.HostConfig?.Mounts).toEqual([
          { Type: 'volume', Source: `${net}-docker-storage`, Target: '/var/lib/docker' },
          { Type: 'volume', Source: `${net}-docker-certs`, Target: '/certs/client' },
        ]);
      },
    ],
    [
      'docker: dind gives the engine the narrow explicit rights, never --privileged',
      (i) => {
        i.unit.docker = 'dind';
      },
      (s) => {
        expect(s.dind?.HostConfig).toMatchObject({
          Privileged: false,
          CapAdd: ['ALL'],
          CapDrop: ['SYS_RESOURCE'],
          SecurityOpt: ['seccomp=unconfined'],
          MaskedPaths: [],
          ReadonlyPaths: [],
          DeviceCgroupRules: ['a *:* rwm'],
        });
        // The job container itself keeps its confinement.
        expect(s.agent.HostConfig).toMatchObject({ Privileged: false, SecurityOpt: ['no-new-privileges'] });
        expect(s.agent.HostConfig?.CapAdd).toBeUndefined();
      },
    ],
    [
      'docker: dind mounts the client half read-only in the job and points the steps at the engine over TLS',
      (i) => {
        i.unit.docker = 'dind';
      },
      (s) => {
        expect(s.agent.Env).toEqual(
          expect.arrayContaining([
            'DOCKER_HOST=tcp://docker:2376',
            'DOCKER_TLS_VERIFY=1',
            'DOCKER_CERT_PATH=/run/slipway-docker/certs',
          ]),
        );
        expect(s.agent.HostConfig?.Mounts).toContainEqual({
          Type: 'volume',
          Source: 'slipway-default-1-u1-docker-certs',
          Target: '/run/slipway-docker/certs',
          ReadOnly: true,
        });
      },
    ],
    [
      "docker: dind passes the pool's engine options to dockerd and the MTU to the job network",
      (i) => {
        i.unit.docker = 'dind';
        i.unit.dockerEngine = {
          registryMirrors: ['http://mirror.local:5000'],
          insecureRegistries: ['registry.local:5000'],
          mtu: 1400,
          storageDriver: 'vfs',
        };
      },
      (s) => {
        expect(s.dind?.Cmd).toEqual([
          '--registry-mirror=http://mirror.local:5000',
          '--insecure-registry=registry.local:5000',
          '--mtu=1400',
          '--storage-driver=vfs',
        ]);
        expect(s.network?.Options).toEqual({ 'com.docker.network.driver.mtu': '1400' });
      },
    ],
    [
      'docker: dind limits the engine like every other container of the unit',
      (i) => {
        i.unit.docker = 'dind';
        i.resources = { cpus: 2, memoryBytes: 1024 ** 3 };
      },
      (s) => {
        expect(s.dind?.HostConfig).toMatchObject({ NanoCpus: 2e9, Memory: 1024 ** 3, MemorySwap: 1024 ** 3 });
      },
    ],
    [
      'docker: socket mounts the host socket and makes no engine, volumes or network',
      (i) => {
        i.unit.docker = 'socket';
        i.hostSocket = '/run/docker.sock';
      },
      (s) => {
        expect(s.agent.HostConfig?.Mounts).toContainEqual({
          Type: 'bind',
          Source: '/run/docker.sock',
          Target: '/var/run/docker.sock',
        });
        expect(s.agent.Env).toContain('DOCKER_HOST=unix:///var/run/docker.sock');
        expect(s.dind).toBeUndefined();
        expect(s.volumes).toEqual([]);
        expect(s.network).toBeUndefined();
      },
    ],
    [
      'docker: rootless lifts the seccomp filter and keeps CAP_SETFCAP for the builder, and nothing else',
      (i) => {
        i.unit.docker = 'rootless';
      },
      (s) => {
        expect(s.agent.HostConfig).toMatchObject({
          Privileged: false,
          SecurityOpt: ['no-new-privileges', 'seccomp=unconfined'],
          CapDrop: ['NET_RAW', 'MKNOD', 'AUDIT_WRITE', 'SETPCAP'],
        });
        expect(s.agent.HostConfig?.CapAdd).toBeUndefined();
        expect(s.agent.Env).toEqual(
          expect.arrayContaining(['BUILDAH_ISOLATION=chroot', 'STORAGE_DRIVER=vfs']),
        );
        expect(s.agent.HostConfig?.Mounts?.some((m) => m.Target === '/var/run/docker.sock')).toBe(false);
        expect(s.dind).toBeUndefined();
        expect(s.volumes).toEqual([]);
      },
    ],
    [
      'no docker: no engine, no socket, no Docker variables',
      () => undefined,
      (s) => {
        expect(s.dind).toBeUndefined();
        expect(s.volumes).toEqual([]);
        expect(s.agent.Env?.some((e) => e.startsWith('DOCKER_'))).toBe(false);
        expect(s.agent.HostConfig?.Mounts?.some((m) => m.Target === '/var/run/docker.sock')).toBe(false);
      },
    ],
    [
      "honours the job container's options: hostname, user, env after env:, shm, ulimits",
      (i) => {
        i.unit.env = { MODE: 'env' };
        i.unit.options = {
          hostname: 'box',
          user: '1000:1000',
          env: { MODE: 'option' },
          shmSizeBytes: 1024 ** 3,
          ulimits: [{ name: 'nofile', soft: 1024, hard: 4096 }],
        };
      },
      (s) => {
        expect(s.agent).toMatchObject({ Hostname: 'box', User: '1000:1000' });
        expect(s.agent.Env?.slice(-2)).toEqual(['MODE=env', 'MODE=option']);
        expect(s.agent.HostConfig).toMatchObject({
          ShmSize: 1024 ** 3,
          Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 4096 }],
          CapDrop: DROPPED_CAPABILITIES,
          Privileged: false,
        });
      },
    ],
    [
      "a service's options apply to it alone; --cpus and --memory lower the fleet's limits, never raise them",
      (i) => {
        withServices(i);
        i.resources = { cpus: 2, memoryBytes: 1024 ** 3 };
        i.unit.services.cache!.options = {
          cpus: 4,
          memoryBytes: 256 * 1024 ** 2,
          shmSizeBytes: 64 * 1024 ** 2,
        };
        i.unit.services.web!.options = { cpus: 0.5, hostname: 'www' };
      },
      (s) => {
        const [cache, web] = s.services;
        expect(cache?.HostConfig).toMatchObject({
          NanoCpus: 2e9,
          Memory: 256 * 1024 ** 2,
          MemorySwap: 256 * 1024 ** 2,
          ShmSize: 64 * 1024 ** 2,
        });
        expect(web?.HostConfig).toMatchObject({ NanoCpus: 5e8, Memory: 1024 ** 3 });
        expect(web?.Hostname).toBe('www');
        expect(s.agent.HostConfig).toMatchObject({ NanoCpus: 2e9, Memory: 1024 ** 3 });
        expect(s.agent.HostConfig?.ShmSize).toBeUndefined();
        expect(s.agent.Hostname).toBeUndefined();
      },
    ],
  ])('%s', (_name, change, check) => check(spec(change)));
});

describe('fleetNetworkSpec', () => {
  it('is a labelled bridge with inter-container traffic off', () => {
    expect(fleetNetworkSpec('host:1-default', { 'slipway.test': 'x' })).toEqual({
      Name: 'slipway-fleet-host-1-default',
      Driver: 'bridge',
      CheckDuplicate: true,
      Options: { 'com.docker.network.bridge.enable_icc': 'false' },
      Labels: {
        'slipway.test': 'x',
        'slipway.managed': 'true',
        'slipway.fleet': 'host:1-default',
        'slipway.role': 'fleet-network',
      },
    });
  });
});

describe('ticketArchive', () => {
  it('carries the ticket in a file the agent can read and delete, and opens the work volume', async () => {
    const entries = new Map<string, { type: string; mode: number; content: string }>();
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        let content = '';
        entry.on('data', (d: Buffer) => {
          content += d.toString();
        });
        entry.on('end', () => entries.set(entry.path, { type: entry.type, mode: entry.mode ?? -1, content }));
      },
    });
    await new Promise<void>((resolve) => {
      parser.on('end', resolve);
      parser.end(ticketArchive('slw_jit_example'));
    });
    expect(entries.get('run/slipway-ticket/')).toMatchObject({ type: 'Directory', mode: 0o777 });
    expect(entries.get('run/slipway-ticket/ticket')).toEqual({
      type: 'File',
      mode: 0o444,
      content: 'slw_jit_example\n',
    });
    expect(entries.get('slipway-work/')).toMatchObject({ type: 'Directory', mode: 0o1777 });
    // `run/` itself is not in it: the image's /run keeps its own mode.
    expect(entries.has('run/')).toBe(false);
  });
});
