import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
// The test's stand-in engine is made with the image builder's parts, as other fleet tests do.
import { importRootfs } from '../images/docker-import.js';
import { findStaticBusybox } from '../images/host.js';
import { DIND_CLIENT_CERTS, DIND_READY_FILE } from '../images/index.js';
import { RootfsPlan } from '../images/rootfs.js';
import { ApiClient } from '../protocol/client.js';
import { startServer } from '../server/index.js';
import { silentLogger } from '../shared/logger.js';
import { useTestFleets } from '../test-support/fleets.js';
import { killAll, spawnCli } from '../test-support/harness.js';
import type { UnitEvent } from './fleet-manager.js';
import {
  countLabelled,
  finishRun,
  queueRun,
  removeLabelled,
  runPipeline,
  waitFor,
} from './fleet-test-support.js';
import { LABEL } from './labels.js';

const fleets = useTestFleets();
const { docker } = fleets;
afterAll(killAll);

const allow = async (client: ApiClient, token: string, settings: Record<string, unknown>) =>
  client.request('pools/default', { method: 'PATCH', token, body: { settings } });

/** A job that builds an image from a Dockerfile (FROM scratch, the image's static busybox) and runs it. */
const buildAndRun = (tag: string, extra = '') => `jobs:
- job: build
  docker: dind
  steps:
  - bash: |
      set -e
      mkdir ctx && cp /usr/bin/busybox ctx/
      printf 'FROM scratch\\nCOPY busybox /bin/busybox\\nCMD ["/bin/busybox", "echo", "ran %s"]\\n' '${tag}' > ctx/Dockerfile
      docker build -q -t ${tag} ctx
      docker run --rm ${tag}
      echo "inner containers: $(docker ps -a -q | wc -l)"
      echo "inner engine: $(docker info --format '{{.Driver}} {{.Name}}')"
      if env -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH docker --tls version >/dev/null 2>&1; then
        echo "answered without a client certificate"
      else
        echo "refused without a client certificate"
      fi
${extra}`;

async function dockerExec(container: string, cmd: string[]): Promise<number> {
  const exec = await docker
    .getContainer(container)
    .exec({ Cmd: cmd, AttachStdout: false, AttachStderr: false });
  await exec.start({ Detach: true });
  for (;;) {
    const info = await exec.inspect();
    if (!info.Running) return info.ExitCode ?? -1;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('docker: dind', () => {
  it("builds and runs an image in an engine of the job's own: not on the host, no host containers, all gone after", async () => {
    const t = await fleets.start({ minIdle: 0, max: 2 });
    await allow(t.client, t.adminToken, { allowDind: true });
    const started: Array<UnitEvent & { startMs: number }> = [];
    t.fleet.on('unitStarted', (u) => started.push(u));
    const tag = `slipway-test-dind:${t.runId}`;
    const before = performance.now();
    const { run, log } = await finishRun(
      t.client,
      t.adminToken,
      (await queueRun(t.client, t.adminToken, buildAndRun(tag))).id,
      120_000,
    );
    const endToEnd = Math.round(performance.now() - before);
    expect(run.result, `${log}\n${JSON.stringify(run.jobs)}`).toBe('succeeded');
    expect(log).toContain(`ran ${tag}`);
    expect(log).toContain('Docker: this job has an engine of its own (docker: dind)');
    // The host runs containers (this fleet's own, at least): the job's engine sees none of them.
    expect(log).toContain('inner containers: 0');
    expect((await docker.listContainers()).length).toBeGreaterThan(0);
    expect(log).toMatch(/inner engine: overlay2 /);
    expect(log).toContain('refused without a client certificate');
    // What the job built stays in its engine.
    await expect(docker.getImage(tag).inspect()).rejects.toMatchObject({ statusCode: 404 });

    const unit = started[0]!;
    await waitFor(async () => {
      const left = await countLabelled(docker, `${LABEL.unit}=${unit.unitId}`);
      return left.containers + left.networks + left.volumes === 0;
    }, 'the sidecar, its storage and the job network to be removed');
    console.log(`dind job: unit started in ${unit.startMs} ms, end to end ${endToEnd} ms`);
  }, 180_000);

  it('a pool without the policy refuses the job before it starts, naming the flag; the engine options reach the engine', async () => {
    const t = await fleets.start({ minIdle: 0, max: 2 });
    const started: UnitEvent[] = [];
    t.fleet.on('unitStarted', (u) => started.push(u));
    const refused = await runPipeline(t.client, t.adminToken, buildAndRun('x:1'));
    expect(refused.run.result).toBe('failed');
    expect(JSON.stringify(refused.run.jobs)).toContain(
      "allow it with 'slipway pool update default --allow-dind'",
    );
    expect(started).toEqual([]);

    // Allowed through the CLI, with engine options; the next job gets them.
    const cli = spawnCli(
      [
        'pool',
        'update',
        'default',
        '--allow-dind',
        '--insecure-registry',
        'registry.test:5000',
        '--network-mtu',
        '1400',
      ],
      { SLIPWAY_URL: t.server.url, SLIPWAY_TOKEN: t.adminToken },
    );
    expect(await cli.exited, cli.output()).toBe(0);
    expect(cli.output()).toContain("pool 'default' updated: dind allowed");
    const { run, log } = await finishRun(
      t.client,
      t.adminToken,
      (
        await queueRun(
          t.client,
          t.adminToken,
          `jobs:
- job: info
  docker: dind
  steps:
  - bash: |
      docker info --format 'insecure={{json .RegistryConfig.IndexConfigs}}'
      echo "mtu=$(cat /sys/class/net/eth0/mtu)"
`,
        )
      ).id,
      120_000,
    );
    expect(run.result, `${log}\n${JSON.stringify(run.jobs)}`).toBe('succeeded');
    expect(log).toContain('registry.test:5000');
    expect(log).toContain('mtu=1400');
  }, 180_000);

  it("two dind jobs at once do not see each other's images", async () => {
    const t = await fleets.start({ minIdle: 0, max: 2 });
    await allow(t.client, t.adminToken, { allowDind: true });
    const started: UnitEvent[] = [];
    t.fleet.on('unitStarted', (u) => started.push(u));
    const job = (name: string) => `- job: ${name}
  docker: dind
  steps:
  - bash: |
      set -e
      mkdir ctx && cp /usr/bin/busybox ctx/ && printf 'FROM scratch\\nCOPY busybox /bin/busybox\\n' > ctx/Dockerfile
      docker build -q -t img-${name}:1 ctx
      touch /tmp/built
      # Both jobs hold here until the test has seen both images built.
      for i in $(seq 600); do [ -f /tmp/go ] && break; sleep 0.1; done
      echo "${name} sees: $(docker images --format '{{.Repository}}' | sort | tr '\\n' ' ')"
`;
    const queued = await queueRun(t.client, t.adminToken, `jobs:\n${job('a')}${job('b')}`);
    const agents = await waitFor(
      async () => {
        const found = await docker.listContainers({
          filters: { label: [`${LABEL.fleet}=test-${t.runId}`, `${LABEL.role}=agent`] },
        });
        if (found.length < 2) return undefined;
        const built = await Promise.all(found.map((c) => dockerExec(c.Id, ['test', '-f', '/tmp/built'])));
        return built.every((code) => code === 0) && found;
      },
      'both jobs to have built their image',
      90_000,
    );
    // Two engines at once: one sidecar per job.
    const sidecars = await docker.listContainers({
      filters: { label: [`${LABEL.fleet}=test-${t.runId}`, `${LABEL.role}=dind`] },
    });
    expect(sidecars).toHaveLength(2);
    await Promise.all(agents.map((c) => dockerExec(c.Id, ['touch', '/tmp/go'])));
    const { run, log } = await finishRun(t.client, t.adminToken, queued.id, 60_000);
    expect(run.result, `${log}\n${JSON.stringify(run.jobs)}`).toBe('succeeded');
    expect(log).toContain('a sees: img-a ');
    expect(log).toContain('b sees: img-b ');
    expect(log).not.toMatch(/a sees: .*img-b/);
    expect(log).not.toMatch(/b sees: .*img-a/);
    expect(started).toHaveLength(2);
  }, 180_000);

  it('the first step starts only once the engine is ready', async () => {
    // A stand-in engine that takes 3 s to be ready and leaves a mark the job can see when it is.
    const runId = randomBytes(5).toString('hex');
    const slow = { repo: 'slipway-test/slow-engine', tag: runId };
    const plan = new RootfsPlan({ usrMerge: false });
    await plan.file('/bin/busybox', await findStaticBusybox(), { mode: 0o755 });
    const b = '/bin/busybox';
    await importRootfs(docker, plan.tar(), {
      ...slow,
      config: {
        entrypoint: [
          b,
          'sh',
          '-c',
          `${b} sleep 3; echo ready > ${DIND_CLIENT_CERTS}/mark; ${b} mkdir -p /run; ${b} touch ${DIND_READY_FILE}; exec ${b} sleep 600`,
        ],
        env: {},
        labels: { 'slipway.test': runId },
      },
    });
    try {
      const t = await fleets.start({ minIdle: 0, max: 2, dindImage: `${slow.repo}:${slow.tag}` });
      await allow(t.client, t.adminToken, { allowDind: true });
      const { run, log } = await runPipeline(
        t.client,
        t.adminToken,
        'jobs:\n- job: first\n  docker: dind\n  steps:\n  - bash: cat "$DOCKER_CERT_PATH/mark"\n',
      );
      expect(run.result, log).toBe('succeeded');
      expect(log).toContain('ready');
    } finally {
      await docker
        .getImage(`${slow.repo}:${slow.tag}`)
        .remove({ force: true })
        .catch(() => undefined);
    }
  }, 120_000);

  it('fails the job with a clear error when its engine does not come up', async () => {
    const t = await fleets.start({ minIdle: 0, max: 2 });
    await allow(t.client, t.adminToken, {
      allowDind: true,
      dockerEngine: { storageDriver: 'no-such-driver' },
    });
    const { run } = await runPipeline(t.client, t.adminToken, buildAndRun('x:1'));
    expect(run.result).toBe('failed');
    const reason = run.jobs[0]?.reason ?? '';
    expect(reason).toContain("the job's Docker engine (docker: dind) exited with code 1 before it answered");
    expect(reason, reason).toContain('no-such-driver');
    // Each failed start took its engine's storage with it.
    const volumes = await docker.listVolumes({ filters: { label: [t.label, `${LABEL.role}=dind-storage`] } });
    expect(volumes.Volumes ?? []).toEqual([]);
  }, 180_000);
});

describe('examples/dind', () => {
  it('builds an image with dind and runs it, through slipway run', async () => {
    const t = await fleets.start({ minIdle: 0, max: 2 });
    await allow(t.client, t.adminToken, { allowDind: true });
    const env = { SLIPWAY_URL: t.server.url, SLIPWAY_TOKEN: t.adminToken };
    const cli = spawnCli(['run', 'examples/dind/azure-pipelines.yml', '--dir', 'examples/dind'], env);
    expect(await cli.exited, cli.output()).toBe(0);
    expect(cli.output()).toContain('hello from an image built inside a Slipway job');

    // For the record: the same `slipway run` of a plain job in its own container, and of a dind job.
    const timed = async (yaml: string) => {
      const started = performance.now();
      const run = await runPipeline(t.client, t.adminToken, yaml);
      expect(run.run.result, run.log).toBe('succeeded');
      return Math.round(performance.now() - started);
    };
    const plain = await timed(
      'jobs:\n- job: plain\n  container: slipway/base:latest\n  services: {}\n  steps:\n  - bash: echo hi\n',
    );
    const dind = await timed(
      'jobs:\n- job: d\n  docker: dind\n  steps:\n  - bash: docker version >/dev/null\n',
    );
    console.log(`end to end: plain container job ${plain} ms, dind job ${dind} ms`);
  }, 180_000);
});

describe('docker: socket', () => {
  it("runs where the pool allows it, and the job's log opens with the warning", async () => {
    const t = await fleets.start({ minIdle: 0, max: 2 });
    await allow(t.client, t.adminToken, { allowDockerSocket: true });
    const { run, log } = await runPipeline(
      t.client,
      t.adminToken,
      `jobs:
- job: s
  docker: socket
  steps:
  - bash: |
      echo "host engine: $(docker info --format '{{.ID}}')"
`,
    );
    expect(run.result, `${log}\n${JSON.stringify(run.jobs)}`).toBe('succeeded');
    // The job talks to the host's own engine.
    expect(log).toContain(`host engine: ${(await docker.info()).ID}`);
    expect(log.split('\n')[0]).toContain(
      "##[warning]This job has the host's Docker socket (docker: socket): it has root on the host",
    );
  }, 120_000);
});

describe('after a kill -9 of the fleet', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('the next start finds the sidecar and its storage by label and removes them', async () => {
    const runId = randomBytes(5).toString('hex');
    const fleetId = `test-kill-${runId}`;
    const dir = await mkdtemp(join(tmpdir(), 'slw-dind-'));
    dirs.push(dir);
    const socketPath = join(dir, 'agent.sock');
    const server = await startServer({
      config: { port: 0, dataDir: join(dir, 'data'), socketPath, logLevel: 'silent', leaseTtlSeconds: 5 },
      logger: silentLogger,
    });
    const label = `${LABEL.fleet}=${fleetId}`;
    try {
      const adminToken = (await readFile(server.adminTokenFile, 'utf8')).trim();
      const client = new ApiClient(server.url);
      await allow(client, adminToken, { allowDind: true });
      const args = ['fleet', '--min-idle', '0', '--max', '1', '--fleet-id', fleetId, '--socket', socketPath];
      const env = { SLIPWAY_URL: server.url, SLIPWAY_TOKEN: adminToken };
      const first = spawnCli(args, env);
      // A container job on a pool no fleet serves fails at once: the fleet announces itself first.
      await first.waitFor(/Serving/, 60_000);
      await queueRun(
        client,
        adminToken,
        'jobs:\n- job: long\n  docker: dind\n  steps:\n  - bash: docker version && sleep 600\n',
      );
      await waitFor(
        async () => {
          const c = await docker.listContainers({ filters: { label: [label, `${LABEL.role}=agent`] } });
          return c.length === 1;
        },
        'the dind job to run',
        60_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; the fleet said: ${first.output()}`);
      });
      first.kill('SIGKILL');
      await first.exited;
      const left = await countLabelled(docker, label);
      // The agent, the sidecar, the job network and the engine's two volumes (and the work volume).
      expect(left.containers).toBe(2);
      expect(
        (await docker.listVolumes({ filters: { label: [label, `${LABEL.role}=dind-storage`] } })).Volumes,
      ).toHaveLength(1);

      const second = spawnCli(args, env);
      await waitFor(
        async () => {
          const c = await docker.listContainers({
            all: true,
            filters: { label: [label, `${LABEL.role}=dind`] },
          });
          const v =
            (await docker.listVolumes({ filters: { label: [label, `${LABEL.role}=dind-storage`] } }))
              .Volumes ?? [];
          return c.length === 0 && v.length === 0;
        },
        'the sidecar and its storage to be collected',
        60_000,
      );
      second.kill('SIGTERM');
      await second.exited;
    } finally {
      await server.stop();
      await removeLabelled(docker, label);
    }
  }, 240_000);
});
