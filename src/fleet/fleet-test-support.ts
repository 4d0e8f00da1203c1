// Helpers for tests and the benchmark that drive a real fleet: runs through the API, images
// made without a registry, and removal of everything a test labelled.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
// Test support may use the image builder's parts that its public surface does not export.
import { importRootfs } from '../images/docker-import.js';
import { findStaticBusybox } from '../images/host.js';
import { RootfsPlan } from '../images/rootfs.js';
import { ApiClient } from '../protocol/client.js';
import { type RunEvent, type RunView, runEventsResponse, runView } from '../protocol/schemas.js';
import { startServer } from '../server/index.js';
import { sleep } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import type { ResourceLimits } from './container-spec.js';
import { DockerDriver } from './drivers/docker.js';
import { FleetManager } from './fleet-manager.js';

export interface FinishedRun {
  run: RunView;
  events: RunEvent[];
  /** Every log line of the run, in order. */
  log: string;
}

/** Queues a run of `yaml` (no workspace) and returns its id. */
export async function queueRun(
  client: ApiClient,
  token: string,
  yaml: string,
  o: { secrets?: Record<string, string> } = {},
): Promise<RunView> {
  const { body } = await client.request('runs', {
    token,
    body: { pipeline: { file: 'azure-pipelines.yml', content: yaml }, secrets: o.secrets ?? {} },
  });
  return runView.parse(body);
}

/** Follows a run's feed until it completes. */
export async function finishRun(
  client: ApiClient,
  token: string,
  runId: string,
  timeoutMs = 60_000,
): Promise<FinishedRun> {
  const events: RunEvent[] = [];
  const until = Date.now() + timeoutMs;
  let after = 0;
  for (;;) {
    if (Date.now() > until) throw new Error(`run ${runId} did not finish within ${timeoutMs} ms`);
    const { body } = await client.request(`runs/${runId}/events?after=${after}&waitMs=10000`, {
      token,
      timeoutMs: 20_000,
    });
    const page = runEventsResponse.parse(body);
    events.push(...page.events);
    after = page.next;
    if (page.done) break;
  }
  const run = runView.parse((await client.request(`runs/${runId}`, { token })).body);
  const log = events
    .filter((e) => e.kind === 'log')
    .map((e) => String(e.data.text ?? ''))
    .join('');
  return { run, events, log };
}

export async function runPipeline(
  client: ApiClient,
  token: string,
  yaml: string,
  o: { secrets?: Record<string, string> } = {},
) {
  return finishRun(client, token, (await queueRun(client, token, yaml, o)).id);
}

/** Polls `check` until it returns a value other than undefined/false. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * What benchmarks wait for on a fleet's pool: an idle polling agent, or a settled fleet (no unit
 * starting or stopping, and each one without a job polling).
 */
export function fleetWaits(client: ApiClient, token: string, fleet: FleetManager, pool = 'default') {
  const demand = () => client.poolDemand(pool, 0, { token });
  const idleAgent = () =>
    waitFor(async () => (await demand()).agents.some((a) => a.polling && !a.busy), 'an idle agent', 60_000);
  const settled = () =>
    waitFor(
      async () => {
        const units = fleet.units();
        if (units.some((u) => u.phase !== 'running')) return false;
        const agents = (await demand()).agents;
        return units
          .filter((u) => !u.jobId)
          .every((u) => agents.some((a) => a.name === u.name && a.polling && !a.busy));
      },
      'a settled fleet',
      60_000,
    );
  return { demand, idleAgent, settled };
}

/**
 * An image holding nothing but a static busybox (no libc, no loader, no `sh` link): jobs in it
 * run only on what the injected agent brings. Its CMD serves "hi" on port 8080, so the same
 * image is a service too.
 */
export async function importBusyboxOnlyImage(
  docker: Dockerode,
  ref: { repo: string; tag: string },
  labels: Record<string, string>,
): Promise<string> {
  const plan = new RootfsPlan({ usrMerge: false });
  await plan.file('/bin/busybox', await findStaticBusybox(), { mode: 0o755 });
  return importRootfs(docker, plan.tar(), {
    ...ref,
    config: {
      cmd: ['/bin/busybox', 'nc', '-ll', '-p', '8080', '-e', '/bin/busybox', 'echo', 'hi'],
      env: { PATH: '/bin' },
      labels: { ...labels, 'slipway.kind': 'test-image' },
    },
  });
}

/** Everything carrying `label` (`key=value`): what a test made, removed even after a failure. */
export async function removeLabelled(
  docker: Dockerode,
  label: string,
): Promise<{ containers: number; networks: number; volumes: number }> {
  const filters = { label: [label] };
  const containers = await docker.listContainers({ all: true, filters });
  await Promise.all(
    containers.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined),
    ),
  );
  const networks = await docker.listNetworks({ filters });
  await Promise.all(
    networks.map((n) =>
      docker
        .getNetwork(n.Id)
        .remove()
        .catch(() => undefined),
    ),
  );
  const volumes = (await docker.listVolumes({ filters })).Volumes ?? [];
  await Promise.all(
    volumes.map((v) =>
      docker
        .getVolume(v.Name)
        .remove()
        .catch(() => undefined),
    ),
  );
  return { containers: containers.length, networks: networks.length, volumes: volumes.length };
}

/** Counts what carries `label` now. */
export async function countLabelled(docker: Dockerode, label: string) {
  const filters = { label: [label] };
  return {
    containers: (await docker.listContainers({ all: true, filters })).length,
    networks: (await docker.listNetworks({ filters })).length,
    volumes: ((await docker.listVolumes({ filters })).Volumes ?? []).length,
  };
}

/**
 * A server and a fleet of one warm agent, labelled for one test alone; `cleanups` gets what
 * stops and removes them (fleet first).
 */
export async function startTestFleet(
  docker: Dockerode,
  cleanups: Array<() => Promise<void>>,
  o: {
    drainTimeoutMs?: number;
    resources?: ResourceLimits;
    minIdle?: number;
    max?: number;
    /** Default 0 here: most tests count containers; the warm-images test turns it on. */
    warmPerImage?: number;
    dindImage?: string;
  } = {},
) {
  const runId = randomBytes(5).toString('hex');
  const label = `slipway.test=${runId}`;
  const dir = await mkdtemp(join(tmpdir(), 'slw-fleet-'));
  const socketPath = join(dir, 'agent.sock');
  const server = await startServer({
    config: { port: 0, dataDir: join(dir, 'data'), socketPath, logLevel: 'silent', leaseTtlSeconds: 5 },
    logger: silentLogger,
  });
  cleanups.push(async () => {
    await server.stop();
    await removeLabelled(docker, label);
    await rm(dir, { recursive: true, force: true });
  });
  const adminToken = (await readFile(server.adminTokenFile, 'utf8')).trim();
  const client = new ApiClient(server.url);
  const fleet = new FleetManager({
    client,
    adminToken,
    driver: new DockerDriver({
      docker,
      serverSocket: socketPath,
      labels: { 'slipway.test': runId },
      ...(o.resources ? { resources: o.resources } : {}),
      ...(o.dindImage ? { dindImage: o.dindImage } : {}),
    }),
    fleetId: `test-${runId}`,
    minIdle: o.minIdle ?? 1,
    max: o.max ?? 2,
    warmPerImage: o.warmPerImage ?? 0,
    drainTimeoutMs: o.drainTimeoutMs ?? 30_000,
    stopGraceSeconds: 2,
    demandWaitMs: 1_000,
  });
  cleanups.unshift(async () => fleet.stop());
  await fleet.start();
  return { client, adminToken, fleet, label, server, socketPath, runId };
}
