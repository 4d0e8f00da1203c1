import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { buildImages } from '../images/index.js';
import { ApiClient } from '../protocol/client.js';
import { runView } from '../protocol/schemas.js';
import { type SlipwayServer, startServer } from '../server/index.js';
import { silentLogger } from '../shared/logger.js';
import { DockerDriver } from './drivers/docker.js';
import { FleetManager } from './fleet-manager.js';
import { countLabelled, finishRun, queueRun, removeLabelled, waitFor } from './fleet-test-support.js';

const bundlePath = join(resolve(import.meta.dirname, '../..'), 'dist/agent/slipway-agent.mjs');
const docker = new Docker();
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  await buildImages({ docker, agentBundlePath: bundlePath });
}, 180_000);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** A server and a fleet of one warm agent, labelled for this test alone. */
async function setUp(drainTimeoutMs: number) {
  const runId = randomBytes(5).toString('hex');
  const label = `slipway.test=${runId}`;
  const dir = await mkdtemp(join(tmpdir(), 'slw-drain-'));
  const socketPath = join(dir, 'agent.sock');
  const server: SlipwayServer = await startServer({
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
    driver: new DockerDriver({ docker, serverSocket: socketPath, labels: { 'slipway.test': runId } }),
    fleetId: `drain-${runId}`,
    minIdle: 1,
    max: 2,
    drainTimeoutMs,
    stopGraceSeconds: 2,
    demandWaitMs: 1_000,
  });
  cleanups.unshift(async () => fleet.stop());
  await fleet.start();
  return { client, adminToken, fleet, label };
}

async function runningJob(client: ApiClient, token: string, runId: string) {
  await waitFor(async () => {
    const view = runView.parse((await client.request(`runs/${runId}`, { token })).body);
    return view.jobs[0]?.status === 'running';
  }, 'the job to run');
}

it('on stop lets a running job finish before it removes its containers', async () => {
  const { client, adminToken, fleet, label } = await setUp(60_000);
  const run = await queueRun(client, adminToken, 'steps:\n- script: sleep 3 && echo finished\n');
  await runningJob(client, adminToken, run.id);
  const stopping = fleet.stop();
  const done = await finishRun(client, adminToken, run.id);
  await stopping;
  expect(done.run.result).toBe('succeeded');
  expect(done.log).toContain('finished');
  expect(fleet.state).toBe('stopped');
  expect(await countLabelled(docker, label)).toEqual({ containers: 0, networks: 0, volumes: 0 });
}, 120_000);

it('bounds the drain: a job longer than the drain timeout is stopped, and nothing is left', async () => {
  const { client, adminToken, fleet, label } = await setUp(1_000);
  const run = await queueRun(client, adminToken, 'steps:\n- script: sleep 60\n');
  await runningJob(client, adminToken, run.id);
  const started = Date.now();
  await fleet.stop();
  expect(Date.now() - started).toBeLessThan(30_000);
  const done = await finishRun(client, adminToken, run.id, 30_000);
  expect(['canceled', 'failed']).toContain(done.run.result);
  expect(await countLabelled(docker, label)).toEqual({ containers: 0, networks: 0, volumes: 0 });
}, 120_000);
