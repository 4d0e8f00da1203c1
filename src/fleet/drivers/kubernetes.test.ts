import type { V1Pod } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeKubeApiServer, type FakeKubeApiServerOptions } from '../../test-support/fake-kube-api-server.js';
import type { UnitRequest } from '../driver.js';
import { LABEL } from '../labels.js';
import { AGENT_CONTAINER, podName } from '../pod-spec.js';
import { UnitStartError } from './docker.js';
import { KubernetesDriver, type KubernetesDriverOptions } from './kubernetes.js';
import { KubernetesClient, serverTarget } from './kubernetes-client.js';

const NS = 'ci';
let fake: FakeKubeApiServer | undefined;
let driver: KubernetesDriver | undefined;
let client: KubernetesClient | undefined;

afterEach(async () => {
  await driver?.teardown();
  await client?.close();
  await fake?.stop();
  fake = undefined;
  driver = undefined;
  client = undefined;
});

async function setup(
  o: { fake?: FakeKubeApiServerOptions; driver?: Partial<KubernetesDriverOptions>; token?: string } = {},
) {
  fake = await FakeKubeApiServer.start(o.fake);
  client = new KubernetesClient(
    serverTarget({
      server: fake.url,
      namespace: NS,
      ...(o.token ? { token: o.token } : o.fake?.token ? { token: o.fake.token } : {}),
    }),
  );
  driver = new KubernetesDriver({ client, serverUrl: 'http://slipway:8420', ...o.driver });
  await driver.prepare('fleet-a');
  return { fake, driver };
}

let n = 0;
function unit(change: Partial<UnitRequest> = {}): UnitRequest {
  n++;
  return {
    unitId: `u${n}`,
    fleetId: 'fleet-a',
    pool: 'default',
    agentName: `default-${n}`,
    image: 'slipway/base:latest',
    services: {},
    ticket: Promise.resolve(`tkt_${n}`),
    ...change,
  };
}

const nameOf = (u: UnitRequest) => podName(u.agentName, u.unitId);

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Kubernetes driver against a fake API server', () => {
  it('start makes the pod, then its ticket Secret owned by the pod, and returns once the agent runs', async () => {
    const { fake, driver } = await setup();
    let giveTicket!: (t: string) => void;
    const u = unit({ ticket: new Promise((r) => (giveTicket = r)), jobId: 'job_1', timeoutMinutes: 5 });
    const started = driver.start(u);
    // The pod is made while the ticket is still being issued.
    await until(() => fake.pods(NS).length === 1);
    expect(fake.secrets(NS)).toHaveLength(0);
    expect(fake.pod(NS, nameOf(u))?.status?.phase).toBe('Pending');
    giveTicket('tkt_secret');
    await started;

    const pod = fake.pod(NS, nameOf(u))!;
    expect(pod.status?.phase).toBe('Running');
    expect(pod.spec?.activeDeadlineSeconds).toBe(300 + 600);
    expect(pod.metadata?.labels?.[LABEL.job]).toBe('job_1');
    const posts = fake.requests.filter((r) => r.method === 'POST').map((r) => r.path.split('/').pop());
    expect(posts).toEqual(['pods', 'secrets']);
    const secret = fake.requests.find((r) => r.method === 'POST' && r.path.endsWith('/secrets'))!.body as {
      metadata: { ownerReferences: Array<{ uid: string; kind: string }> };
      data: { ticket: string };
    };
    expect(secret.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Pod', uid: pod.metadata?.uid }),
    ]);
    expect(Buffer.from(secret.data.ticket, 'base64').toString()).toBe('tkt_secret\n');
    // Once the pod runs, its init container has copied the ticket: the Secret is gone.
    expect(fake.secrets(NS)).toHaveLength(0);
    // Nowhere else: not in the pod.
    expect(JSON.stringify(pod)).not.toContain('tkt_secret');
  });

  it('wait reports the exit code from the watch, without polling the pod', async () => {
    const { fake, driver } = await setup();
    const u = unit();
    await driver.start(u);
    const reads = fake.podReads().length;
    const exit = driver.wait(u.unitId);
    await new Promise((r) => setTimeout(r, 300));
    fake.exit(NS, nameOf(u), { exitCode: 3 });
    expect(await exit).toEqual({ exitCode: 3, oomKilled: false, vanished: false });
    expect(fake.podReads().length).toBe(reads);
    expect(fake.watchCount).toBe(1);
  });

  it('wait reports an agent killed for its memory as OOMKilled', async () => {
    const { fake, driver } = await setup();
    const u = unit();
    await driver.start(u);
    fake.exit(NS, nameOf(u), { exitCode: 137, reason: 'OOMKilled' });
    expect(await driver.wait(u.unitId)).toEqual({ exitCode: 137, oomKilled: true, vanished: false });
  });

  it('wait reports a pod deleted by someone else as vanished', async () => {
    const { fake, driver } = await setup();
    const u = unit();
    await driver.start(u);
    const exit = driver.wait(u.unitId);
    const other = new KubernetesClient(serverTarget({ server: fake.url, namespace: NS }));
    await other.deletePod(nameOf(u), 0);
    await other.close();
    expect(await exit).toEqual({ exitCode: -1, oomKilled: false, vanished: true });
  });

  it('an image that cannot be pulled fails the start at once, naming it, and leaves nothing behind', async () => {
    const { fake, driver } = await setup({ fake: { unpullable: ['no/such:image'] } });
    const error = await driver.start(unit({ image: 'no/such:image' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnitStartError);
    expect((error as Error).message).toMatch(/container agent \(no\/such:image\): ErrImagePull/);
    await until(() => fake.pods(NS).length === 0 && fake.secrets(NS).length === 0);
  });

  it('a pod that never runs fails the start after the start timeout, with its condition, and is removed', async () => {
    const { fake, driver } = await setup({ fake: { kubelet: false }, driver: { startTimeoutMs: 300 } });
    const error = await driver.start(unit()).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/did not start within 0 s \(phase Pending\)/);
    expect(fake.pods(NS)).toHaveLength(0);
    expect(fake.secrets(NS)).toHaveLength(0);
  });

  it('a pod refused by the API server fails the start with its reason', async () => {
    const { driver } = await setup();
    // A label value Kubernetes refuses is caught before any request.
    const error = await driver.start(unit({ pool: 'not a label' })).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/is not a Kubernetes label value/);
  });

  it('stop deletes the pod with the grace period (SIGTERM, then SIGKILL); wait sees the agent end', async () => {
    const { fake, driver } = await setup();
    const u = unit();
    await driver.start(u);
    const exit = driver.wait(u.unitId);
    await driver.stop(u.unitId, 7);
    const del = fake.requests.find((r) => r.method === 'DELETE' && r.path.endsWith(`/pods/${nameOf(u)}`))!;
    expect(del.query.get('gracePeriodSeconds')).toBe('7');
    expect(await exit).toEqual({ exitCode: 0, oomKilled: false, vanished: false });
    await until(() => fake.pods(NS).length === 0);
  });

  it('remove deletes the pod and its Secret; removing a gone unit is not an error', async () => {
    const { fake, driver } = await setup({ fake: { kubelet: false }, driver: { startTimeoutMs: 60_000 } });
    const u = unit();
    void driver.start(u).catch(() => undefined);
    await until(() => fake.secrets(NS).length === 1);
    await driver.remove(u.unitId);
    expect(fake.pods(NS)).toHaveLength(0);
    expect(fake.secrets(NS)).toHaveLength(0);
    await driver.remove(u.unitId);
    await driver.remove('never-was');
  });

  it('deleting the pod deletes its ticket Secret (the owner reference), even without the fleet', async () => {
    const { fake } = await setup({ fake: { kubelet: false }, driver: { startTimeoutMs: 60_000 } });
    const u = unit();
    void driver!.start(u).catch(() => undefined);
    await until(() => fake.secrets(NS).length === 1);
    const other = new KubernetesClient(serverTarget({ server: fake.url, namespace: NS }));
    await other.deletePod(nameOf(u), 0);
    await other.close();
    expect(fake.secrets(NS)).toHaveLength(0);
  });

  it('list and gc find the fleet by label: leftovers are reaped, kept units and other fleets stay', async () => {
    const { fake, driver } = await setup();
    const kept = unit();
    await driver.start(kept);
    const labels = (fleet: string, unitId: string, role = 'agent') => ({
      [LABEL.managed]: 'true',
      [LABEL.fleet]: fleet,
      [LABEL.unit]: unitId,
      [LABEL.agent]: `default-${unitId}`,
      [LABEL.role]: role,
    });
    const pod = (name: string, l: Record<string, string>): V1Pod => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: l },
      spec: { containers: [{ name: 'agent', image: 'x' }] },
    });
    const leftover = fake.seed('pods', NS, pod('leftover', labels('fleet-a', 'old1')));
    fake.seed('secrets', NS, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'leftover-ticket',
        labels: labels('fleet-a', 'old1', 'ticket'),
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'leftover', uid: leftover.metadata!.uid! }],
      },
    });
    fake.seed('pods', NS, pod('other-fleet', labels('fleet-b', 'b1')));
    fake.seed('pods', 'elsewhere', pod('other-namespace', labels('fleet-a', 'old2')));

    const listed = await driver.list('fleet-a');
    expect(listed.map((l) => l.unitId).sort()).toEqual([kept.unitId, 'old1'].sort());
    expect(listed.find((l) => l.unitId === kept.unitId)?.running).toBe(true);

    const report = await driver.gc('fleet-a', new Set([kept.unitId]));
    expect(report.units.map((x) => x.agentName)).toEqual(['default-old1']);
    expect(report).toMatchObject({ containers: 1 });
    expect(
      fake
        .pods(NS)
        .map((p) => p.metadata?.name)
        .sort(),
    ).toEqual([nameOf(kept), 'other-fleet'].sort());
    // Its ticket Secret went with it (owned by the pod); the fleet never lists Secrets.
    expect(fake.secrets(NS)).toHaveLength(0);
    expect(fake.requests.some((r) => r.method === 'GET' && r.path.includes('/secrets'))).toBe(false);
    expect(fake.pods('elsewhere')).toHaveLength(1);
  });

  it('the watch resumes when the server ends it, and lists again after 410 Expired', async () => {
    const { fake, driver } = await setup();
    const a = unit();
    const b = unit();
    await driver.start(a);
    await driver.start(b);
    const exitA = driver.wait(a.unitId);
    const exitB = driver.wait(b.unitId);
    fake.closeWatches();
    await until(() => fake.watchCount === 1);
    fake.exit(NS, nameOf(a), { exitCode: 0 });
    expect(await exitA).toMatchObject({ exitCode: 0, vanished: false });

    // B ends while the driver is not watching, and the server forgets that history: resuming
    // from the old resourceVersion gets 410 Expired, so the driver lists afresh.
    const lists = fake.podReads().length;
    fake.closeWatches();
    fake.exit(NS, nameOf(b), { exitCode: 2 });
    fake.compact();
    expect(await exitB).toMatchObject({ exitCode: 2, vanished: false });
    expect(fake.podReads().length).toBe(lists + 1);
  });

  it('logs are the tail of the agent container', async () => {
    const { fake, driver } = await setup();
    const u = unit();
    await driver.start(u);
    fake.setLog(NS, nameOf(u), 'one\ntwo\nthree');
    expect(await driver.logs(u.unitId, 2)).toBe('two\nthree');
    const req = fake.requests.find((r) => r.path.endsWith('/log'))!;
    expect(req.query.get('container')).toBe(AGENT_CONTAINER);
  });

  it('sends its bearer token; a wrong one fails prepare, naming the namespace', async () => {
    fake = await FakeKubeApiServer.start({ token: 'good' });
    client = new KubernetesClient(serverTarget({ server: fake.url, namespace: NS, token: 'bad' }));
    const bad = new KubernetesDriver({ client, serverUrl: 'http://slipway:8420' });
    await expect(bad.prepare('fleet-a')).rejects.toThrow(
      /cannot list pods in namespace ci: .*401 Unauthorized/,
    );
    await client.close();
    client = new KubernetesClient(serverTarget({ server: fake.url, namespace: NS, token: 'good' }));
    driver = new KubernetesDriver({ client, serverUrl: 'http://slipway:8420' });
    await driver.prepare('fleet-a');
    await driver.start(unit());
    expect(fake.pods(NS)).toHaveLength(1);
  });

  it('services and dind come out as sidecars the API server accepts', async () => {
    const { fake, driver } = await setup();
    const u = unit({
      jobId: 'job_2',
      docker: 'dind',
      services: { cache: { image: 'redis:7', env: {}, ports: ['6379'] } },
    });
    await driver.start(u);
    const pod = fake.pod(NS, nameOf(u))!;
    expect(pod.spec?.initContainers?.map((c) => [c.name, c.restartPolicy])).toEqual([
      ['slipway-inject', undefined],
      ['cache', 'Always'],
      ['docker', 'Always'],
    ]);
  });
});
