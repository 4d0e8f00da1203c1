import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/harness.js';
import type { FleetDriver, GcReport, UnitExit, UnitRequest } from './driver.js';
import { FleetManager, type FleetManagerOptions } from './fleet-manager.js';
import { queueRun, waitFor } from './fleet-test-support.js';

/** A driver whose units never run an agent: what the manager asks for, nothing more. */
class FakeDriver implements FleetDriver {
  readonly started: UnitRequest[] = [];
  readonly removed = new Set<string>();
  readonly calls: string[] = [];
  readonly #exits = new Map<string, (exit: UnitExit) => void>();
  /** Held removals wait for this (a slow engine); default none. */
  removals: Promise<void> = Promise.resolve();
  constructor(private readonly failFor: (image: string) => boolean = () => false) {}

  /** The unit's agent leaves of its own accord, as a one-job agent does after its job. */
  exit(unitId: string) {
    this.#exits.get(unitId)?.({ exitCode: 0, oomKilled: false, vanished: false });
  }

  async prepare(fleetId: string) {
    this.calls.push(`prepare ${fleetId}`);
  }
  async teardown(fleetId: string) {
    this.calls.push(`teardown ${fleetId}`);
  }
  async start(request: UnitRequest) {
    await request.ticket;
    if (this.failFor(request.image)) throw new Error(`no such image ${request.image}`);
    this.started.push(request);
  }
  wait(unitId: string) {
    return new Promise<UnitExit>((resolve) => this.#exits.set(unitId, resolve));
  }
  async stop(unitId: string) {
    this.#exits.get(unitId)?.({ exitCode: 0, oomKilled: false, vanished: false });
  }
  async remove(unitId: string) {
    await this.stop(unitId);
    await this.removals;
    this.removed.add(unitId);
  }
  async list() {
    return [];
  }
  async gc(): Promise<GcReport> {
    return { units: [], containers: 0, networks: 0, volumes: 0 };
  }
  async logs() {
    return '';
  }
}

let ts: TestServer | undefined;
let fleet: FleetManager | undefined;

afterEach(async () => {
  await fleet?.stop();
  await ts?.stop();
  fleet = undefined;
  ts = undefined;
});

async function startFleet(driver: FakeDriver, o: Partial<FleetManagerOptions> = {}) {
  ts = await startTestServer();
  fleet = new FleetManager({
    client: ts.client,
    adminToken: ts.adminToken,
    driver,
    fleetId: 'fake',
    minIdle: 0,
    max: 4,
    demandWaitMs: 500,
    drainTimeoutMs: 1_000,
    ...o,
  });
  await fleet.start();
  return { ts, fleet };
}

describe('FleetManager', () => {
  it('keeps min-idle warm agents, each with a one-use ticket, and stop removes them all', async () => {
    const driver = new FakeDriver();
    const { fleet } = await startFleet(driver, { minIdle: 2 });
    await waitFor(async () => driver.started.length === 2, 'two warm agents');
    expect(driver.started.map((u) => [u.agentName, u.image, u.jobId])).toEqual([
      ['default-1', 'slipway/base:latest', undefined],
      ['default-2', 'slipway/base:latest', undefined],
    ]);
    expect(await driver.started[0]!.ticket).toMatch(/^slw_jit_/);
    await fleet.stop();
    expect(fleet.state).toBe('stopped');
    expect([...driver.removed].sort()).toEqual(driver.started.map((u) => u.unitId).sort());
    expect(driver.calls).toEqual(['prepare fake', 'teardown fake']);
  });

  it('starts the replacement of an agent that exited while its container is still being removed', async () => {
    const driver = new FakeDriver();
    await startFleet(driver, { minIdle: 1, max: 1 });
    await waitFor(async () => driver.started.length === 1, 'the warm agent');
    let release = () => {};
    driver.removals = new Promise((r) => (release = r));
    try {
      driver.exit(driver.started[0]!.unitId);
      // One slot (max 1): the new agent starts before the old container is gone, under a new
      // name, since the old one's registration is removed only after its container.
      await waitFor(async () => driver.started.length === 2, 'the replacement', 10_000);
      expect(driver.removed.size).toBe(0);
      expect(driver.started[1]!.agentName).toBe('default-2');
    } finally {
      release();
    }
    await waitFor(async () => driver.removed.has(driver.started[0]!.unitId), 'the old one removed');
  });

  it('gives up on a job whose agent cannot be started after the last attempt, and fails it with the reason', async () => {
    const driver = new FakeDriver((image) => image === 'missing:1');
    const { ts, fleet } = await startFleet(driver, { maxStartAttempts: 2 });
    const failures: string[] = [];
    fleet.on('startFailed', (u) => failures.push(u.error));
    const run = await queueRun(
      ts.client,
      ts.adminToken,
      'jobs:\n- job: a\n  container: missing:1\n  steps:\n  - script: echo\n',
    );
    await waitFor(async () => failures.length === 2, 'two failed starts');
    await new Promise((r) => setTimeout(r, 800));
    expect(failures).toEqual(['no such image missing:1', 'no such image missing:1']);
    const view = (
      await ts.client.request<{ jobs: Array<{ status: string; result: string; reason: string }> }>(
        `runs/${run.id}`,
        {
          token: ts.adminToken,
        },
      )
    ).body;
    expect(view.jobs[0]).toMatchObject({ status: 'completed', result: 'failed' });
    expect(view.jobs[0]!.reason).toContain(
      'could not start an agent for this job (2 attempts): no such image missing:1',
    );
  });

  it("gives dind and socket jobs what their pool allows, with the pool's engine options read for every job", async () => {
    const driver = new FakeDriver();
    ts = await startTestServer();
    const server = ts;
    await ts.client.request('pools', {
      token: ts.adminToken,
      body: {
        name: 'builds',
        settings: { allowDind: true, allowDockerSocket: true, dockerEngine: { mtu: 1400 } },
      },
    });
    fleet = new FleetManager({
      client: ts.client,
      adminToken: ts.adminToken,
      driver,
      fleetId: 'fake',
      pool: 'builds',
      minIdle: 0,
      demandWaitMs: 500,
      // Its fake units never run a job: stop cancels them at once.
      drainTimeoutMs: 100,
      stopGraceSeconds: 0,
    });
    await fleet.start();
    const yaml = (docker: string) =>
      `pool: builds\njobs:\n- job: a\n  docker: ${docker}\n  steps:\n  - script: echo\n`;
    await queueRun(ts.client, ts.adminToken, yaml('dind'));
    await waitFor(async () => driver.started.length === 1, 'the dind unit');
    expect(driver.started[0]).toMatchObject({ docker: 'dind', dockerEngine: { mtu: 1400 } });

    // A change applies to the next job.
    await ts.client.request('pools/builds', {
      method: 'PATCH',
      token: ts.adminToken,
      body: { settings: { dockerEngine: { mtu: 1300, storageDriver: 'vfs' } } },
    });
    await queueRun(ts.client, ts.adminToken, yaml('dind'));
    await waitFor(async () => driver.started.length === 2, 'the second dind unit');
    expect(driver.started[1]).toMatchObject({
      docker: 'dind',
      dockerEngine: { mtu: 1300, storageDriver: 'vfs' },
    });

    await queueRun(ts.client, ts.adminToken, yaml('socket'));
    await waitFor(async () => driver.started.length === 3, 'the socket unit');
    expect(driver.started[2]).toMatchObject({ docker: 'socket' });
    expect(driver.started[2]!.dockerEngine).toBeUndefined();

    // Turned off: the next dind job fails before it starts, naming the flag that would allow it.
    await ts.client.request('pools/builds', {
      method: 'PATCH',
      token: ts.adminToken,
      body: { settings: { allowDind: false } },
    });
    const run = await queueRun(ts.client, ts.adminToken, yaml('dind'));
    const job = await waitFor(async () => {
      const { body } = await server.client.request<{
        jobs: Array<{ status: string; result: string; reason: string }>;
      }>(`runs/${run.id}`, { token: server.adminToken });
      return body.jobs[0]?.status === 'completed' && body.jobs[0];
    }, 'the job to be failed');
    expect(job).toMatchObject({ result: 'failed' });
    expect(job.reason).toContain("'slipway pool update builds --allow-dind'");
    expect(driver.started).toHaveLength(3);
  });

  it('reports its containers, bounds and scale events with its heartbeat, for the fleets view', async () => {
    const driver = new FakeDriver((image) => image === 'missing:1');
    const { ts } = await startFleet(driver, { minIdle: 2, max: 3, heartbeatMs: 50, maxStartAttempts: 1 });
    await waitFor(async () => driver.started.length === 2, 'two warm agents');
    await queueRun(ts.client, ts.adminToken, 'container: missing:1\nsteps: [{ script: a }]\n');
    const fleets = await waitFor(async () => {
      const list = await ts.client.listFleets('default', { token: ts.adminToken });
      const status = list[0]?.status;
      return status && status.totals.started === 2 && status.totals.startFailed === 1 ? list : undefined;
    }, 'the status in a heartbeat');
    expect(fleets).toHaveLength(1);
    expect(fleets[0]).toMatchObject({ pool: 'default', id: 'fake', live: true });
    expect(fleets[0]!.status).toMatchObject({
      containers: 2,
      minIdle: 2,
      max: 3,
      image: 'slipway/base:latest',
    });
    expect(fleets[0]!.status!.events.map((e) => [e.kind, e.agent])).toEqual([
      ['started', 'default-1'],
      ['started', 'default-2'],
      ['start-failed', 'default-3'],
    ]);
    expect(fleets[0]!.status!.events[2]!.detail).toContain('no such image missing:1');
  });
});
