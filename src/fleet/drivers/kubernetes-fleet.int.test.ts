import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeKubeApiServer } from '../../test-support/fake-kube-api-server.js';
import { ROOT, startTestServer, type TestServer } from '../../test-support/harness.js';
import { FleetManager } from '../fleet-manager.js';
import { finishRun, queueRun, waitFor } from '../fleet-test-support.js';
import { AGENT_CONTAINER } from '../pod-spec.js';
import { KubernetesDriver } from './kubernetes.js';
import { KubernetesClient, serverTarget } from './kubernetes-client.js';

const NS = 'ci';
const BUNDLE = join(ROOT, 'dist', 'agent', 'slipway-agent.mjs');

/**
 * The pretend kubelet's container runtime: the agent container's own command line, run as a
 * local process with the bundle of this checkout. Only the pod's file paths are mapped to a
 * temporary directory (the ticket file holds what the pod's Secret holds).
 */
function runAgentLocally(pod: V1Pod, ticket: string): ChildProcess {
  const container = pod.spec!.containers.find((c) => c.name === AGENT_CONTAINER)!;
  // [loader, --library-path, lib, node, bundle, ...agent arguments]
  const args = [...container.command!.slice(5)];
  const dir = mkdtempSync(join(tmpdir(), 'slipway-pod-'));
  const at = (flag: string) => args.indexOf(flag) + 1;
  writeFileSync(join(dir, 'ticket'), `${ticket}\n`);
  args[at('--ticket-file')] = join(dir, 'ticket');
  mkdirSync(join(dir, 'work'));
  args[at('--work')] = join(dir, 'work');
  const env = Object.fromEntries(
    (container.env ?? []).filter((e) => e.name !== 'NODE_EXTRA_CA_CERTS').map((e) => [e.name, e.value ?? '']),
  );
  return spawn(process.execPath, [BUNDLE, ...args], {
    env: { PATH: process.env.PATH, SLIPWAY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

let ts: TestServer | undefined;
let fake: FakeKubeApiServer | undefined;
let fleet: FleetManager | undefined;
let client: KubernetesClient | undefined;

afterEach(async () => {
  await fleet?.stop();
  await client?.close();
  await fake?.stop();
  await ts?.stop();
  fleet = undefined;
  client = undefined;
  fake = undefined;
  ts = undefined;
});

async function startFleet(o: { drainTimeoutMs?: number; stopGraceSeconds?: number } = {}) {
  ts = await startTestServer();
  fake = await FakeKubeApiServer.start({ token: 'sa-token', runAgent: runAgentLocally });
  client = new KubernetesClient(serverTarget({ server: fake.url, namespace: NS, token: 'sa-token' }));
  const driver = new KubernetesDriver({ client, serverUrl: ts.url });
  fleet = new FleetManager({
    client: ts.client,
    adminToken: ts.adminToken,
    driver,
    fleetId: 'k8s-test',
    minIdle: 0,
    max: 2,
    demandWaitMs: 500,
    // These tests follow each job's own pod to its end; warm pods for a recently used image
    // would start beside it (src/fleet/warm-images.int.test.ts tests those).
    warmPerImage: 0,
    drainTimeoutMs: o.drainTimeoutMs ?? 30_000,
    stopGraceSeconds: o.stopGraceSeconds ?? 15,
  });
  await fleet.start();
  return { ts, fake, fleet };
}

describe('Kubernetes fleet against a fake API server whose kubelet runs the agent as a local process', () => {
  it('runs a job in a pod of its own image, bound by its timeout, with a one-use ticket, and leaves nothing', async () => {
    const { ts, fake } = await startFleet();
    const run = await queueRun(
      ts.client,
      ts.adminToken,
      'jobs:\n- job: build\n  container: example/builder:1\n  timeoutInMinutes: 5\n  steps:\n  - script: echo built in a pod\n',
    );
    const done = await finishRun(ts.client, ts.adminToken, run.id);
    expect(done.run.result).toBe('succeeded');
    expect(done.log).toContain('built in a pod');

    const created = fake.requests.find((r) => r.method === 'POST' && r.path.endsWith('/pods'))!.body as V1Pod;
    expect(created.spec?.containers[0]?.image).toBe('example/builder:1');
    expect(created.spec?.activeDeadlineSeconds).toBe(5 * 60 + 600);
    expect(created.metadata?.labels?.['slipway.job']).toBe(done.run.jobs[0]!.id);
    await waitFor(
      async () => fake.pods(NS).length === 0 && fake.secrets(NS).length === 0,
      'the pod and Secret gone',
    );
    // The agent's registration went with it.
    const agents = (await ts.client.request<unknown[]>('agents', { token: ts.adminToken })).body;
    expect(agents).toEqual([]);
  });

  it('drain lets the running job finish, then removes its pod', async () => {
    const { ts, fake, fleet } = await startFleet({ drainTimeoutMs: 30_000 });
    const run = await queueRun(
      ts.client,
      ts.adminToken,
      'jobs:\n- job: slow\n  container: example/builder:1\n  steps:\n  - script: sleep 2 && echo finished while draining\n',
    );
    await waitFor(async () => fake.pods(NS).some((p) => p.status?.phase === 'Running'), 'the pod running');
    await waitFor(
      async () =>
        (await ts.client.request<{ status: string }>(`runs/${run.id}`, { token: ts.adminToken })).body
          .status === 'running',
      'the job running',
    );
    await fleet.stop();
    const done = await finishRun(ts.client, ts.adminToken, run.id);
    expect(done.run.result).toBe('succeeded');
    expect(done.log).toContain('finished while draining');
    expect(fake.pods(NS)).toEqual([]);
    expect(fake.secrets(NS)).toEqual([]);
  });

  it('past the drain timeout, the pod is deleted with the grace period and the job is canceled', async () => {
    const { ts, fake, fleet } = await startFleet({ drainTimeoutMs: 500, stopGraceSeconds: 10 });
    const run = await queueRun(
      ts.client,
      ts.adminToken,
      'jobs:\n- job: endless\n  container: example/builder:1\n  steps:\n  - script: sleep 60\n',
    );
    await waitFor(
      async () =>
        (await ts.client.request<{ status: string }>(`runs/${run.id}`, { token: ts.adminToken })).body
          .status === 'running',
      'the job running',
    );
    await fleet.stop();
    const del = fake.requests.find((r) => r.method === 'DELETE' && r.path.includes('/pods/'))!;
    expect(del.query.get('gracePeriodSeconds')).toBe('10');
    const done = await finishRun(ts.client, ts.adminToken, run.id);
    expect(done.run.result).not.toBe('succeeded');
    expect(fake.pods(NS)).toEqual([]);
  });
});
