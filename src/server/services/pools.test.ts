import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AgentBusyError, ConflictError, NotFoundError, ValidationError } from '../../shared/errors.js';
import { type ServiceWorld, serviceWorld } from '../../test-support/services.js';

let w: ServiceWorld;
beforeEach(async () => {
  w = await serviceWorld();
});
afterEach(() => w.stop());

const ONE_JOB = 'steps:\n- script: echo one\n';
const idle = () => new AbortController().signal;

describe('PoolService pools', () => {
  it('creates a pool once and summarises every pool: agents online, busy, offline, and queued jobs', async () => {
    const created = await w.pools.create({ name: 'gpu', settings: { allowDockerSocket: false } });
    expect(created).toEqual({
      name: 'gpu',
      settings: { allowDockerSocket: false },
      createdAt: new Date(w.clock.now()).toISOString(),
      agents: { online: 0, busy: 0, offline: 0 },
      queued: 0,
    });
    await expect(w.pools.create({ name: 'gpu', settings: { allowDockerSocket: false } })).rejects.toThrow(
      ConflictError,
    );

    const a = await w.agent('a1');
    await w.agent('a2');
    const [running, queued] = await w.queue(
      'jobs:\n- job: a\n  steps: [{ script: x }]\n- job: b\n  steps: [{ script: y }]\n',
    );
    await w.agents.claim(a.row, running!, a.sessionId);
    const list = await w.pools.list();
    expect(list.map((p) => p.name)).toEqual(['default', 'gpu']);
    expect(list[0]).toMatchObject({ agents: { online: 1, busy: 1, offline: 1 }, queued: 1 });
    expect(queued).toBeDefined();
  });

  it('lists agents, all or by pool, with whether each is busy and when it was last seen', async () => {
    await w.pools.create({ name: 'gpu', settings: { allowDockerSocket: false } });
    const a = await w.agent('a1', { capabilities: { os: 'linux' } });
    await w.agent('g1', { pool: 'gpu' });
    const [jobId] = await w.queue(ONE_JOB);
    await w.agents.claim(a.row, jobId!, a.sessionId);
    const all = await w.pools.listAgents();
    expect(all.map((x) => x.name).sort()).toEqual(['a1', 'g1']);
    expect(await w.pools.listAgents('default')).toEqual([
      {
        id: a.row.id,
        pool: 'default',
        name: 'a1',
        version: 'test',
        capabilities: { os: 'linux' },
        busy: true,
        state: 'busy',
        currentJob: { id: jobId, name: 'job', runId: expect.any(String), runNumber: 1 },
        lastSeenAt: new Date(w.clock.now()).toISOString(),
        boundJobId: null,
      },
    ]);
  });

  it('removes an idle agent and tells the scheduler; refuses a busy one and an unknown one', async () => {
    const a = await w.agent('a1');
    const [jobId] = await w.queue(ONE_JOB);
    await w.agents.claim(a.row, jobId!, a.sessionId);
    await expect(w.pools.removeAgent('default', 'a1')).rejects.toThrow(
      new AgentBusyError("agent 'a1' is running a job; cancel it or wait"),
    );
    await expect(w.pools.removeAgent('default', 'nobody')).rejects.toThrow(NotFoundError);
    await w.agent('a2');
    w.poolChanged.mockClear();
    await w.pools.removeAgent('default', 'a2');
    expect(await w.store.findAgent('default', 'a2')).toBeUndefined();
    expect(w.poolChanged).toHaveBeenCalledWith('default');
  });
});

describe('PoolService fleets', () => {
  it('makes a ticket that expires after its TTL, for a pool that exists and a job in it', async () => {
    const [jobId] = await w.queue(ONE_JOB);
    const out = await w.pools.createTicket('default', { name: 'default-1', jobId, ttlSeconds: 60 });
    expect(Date.parse(out.expiresAt)).toBe(w.clock.now() + 60_000);
    expect(await w.credential(out.ticket)).toMatchObject({ kind: 'jit', agentName: 'default-1', jobId });
    await expect(w.pools.createTicket('nowhere', { name: 'x', ttlSeconds: 60 })).rejects.toThrow(
      NotFoundError,
    );
    await w.pools.create({ name: 'gpu', settings: { allowDockerSocket: false } });
    await expect(w.pools.createTicket('gpu', { name: 'x', jobId, ttlSeconds: 60 })).rejects.toThrow(
      new ValidationError(`job ${jobId} is not in pool 'gpu'`),
    );
  });

  it('records fleet presence at the current time and looks at the queue again', async () => {
    w.clock.advance(1_000);
    await w.pools.fleetPresent('default', { id: 'fleet-a', capabilities: { 'Slipway.Image': '1' } });
    expect(await w.store.listFleets('default', w.clock.now())).toEqual([
      {
        pool: 'default',
        id: 'fleet-a',
        capabilities: { 'Slipway.Image': '1' },
        lastSeenAt: w.clock.now(),
        status: null,
      },
    ]);
    expect(w.poolChanged).toHaveBeenCalledWith('default');
    await expect(w.pools.fleetPresent('nowhere', { id: 'f', capabilities: {} })).rejects.toThrow(
      NotFoundError,
    );
  });

  it("shows the pool's demand: queued jobs, agents with busy/draining/polling, running jobs", async () => {
    const a = await w.agent('a1');
    const [running, queued] = await w.queue(
      'jobs:\n- job: a\n  steps: [{ script: x }]\n- job: b\n  steps: [{ script: y }]\n',
    );
    await w.agents.claim(a.row, running!, a.sessionId);
    const demand = await w.pools.demand('default', 0, idle());
    expect(demand.running).toEqual([running]);
    expect(demand.queued).toEqual([
      expect.objectContaining({ jobId: queued, name: 'b', image: null, docker: 'none', demands: [] }),
    ]);
    expect(demand.agents).toEqual([
      { name: 'a1', busy: true, draining: false, boundJobId: null, polling: false },
    ]);
    await expect(w.pools.demand('nowhere', 0, idle())).rejects.toThrow(NotFoundError);
  });

  it('waits for work when none is queued, and answers as soon as some arrives', async () => {
    const waiting = w.pools.demand('default', 30_000, idle());
    const [jobId] = await w.queue(ONE_JOB);
    const demand = await waiting;
    expect(demand.queued.map((j) => j.jobId)).toEqual([jobId]);
  });

  it('stops waiting when the caller goes away, also when it went before the wait began', async () => {
    // No timer ever fires: only the caller's going away can end these waits.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const gone = new AbortController();
      gone.abort();
      expect((await w.pools.demand('default', 30_000, gone.signal)).queued).toEqual([]);

      const leaving = new AbortController();
      const waiting = w.pools.demand('default', 30_000, leaving.signal);
      await vi.advanceTimersByTimeAsync(0);
      leaving.abort();
      expect((await waiting).queued).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("fails a queued job of the pool with the fleet's reason, and no other pool's job", async () => {
    const [jobId] = await w.queue(ONE_JOB);
    await w.pools.create({ name: 'gpu', settings: { allowDockerSocket: false } });
    await expect(w.pools.failQueuedJob('gpu', jobId!, 'no')).rejects.toThrow(NotFoundError);
    await w.pools.failQueuedJob('default', jobId!, 'image will not start');
    expect(await w.store.getJob(jobId!)).toMatchObject({
      status: 'completed',
      result: 'failed',
      reason: 'image will not start',
    });
  });

  it('drains an agent: no more work for it, its poll let go, and whether it still runs a job', async () => {
    const a = await w.agent('a1');
    const b = await w.agent('b1');
    const [jobId] = await w.queue(ONE_JOB);
    await w.agents.claim(a.row, jobId!, a.sessionId);
    expect(await w.pools.drainAgent('default', 'a1')).toEqual({ busy: true });

    const world = await serviceWorld({ pollTimeoutMs: 30_000 });
    try {
      const c = await world.agent('c1');
      const poll = world.agents.poll(c.row, c.sessionId, idle());
      expect(await world.pools.drainAgent('default', 'c1')).toEqual({ busy: false });
      expect(await poll).toBeNull();
      expect((await world.reload(c.row.id)).draining).toBe(true);
    } finally {
      world.stop();
    }
    await expect(w.pools.drainAgent('default', 'nobody')).rejects.toThrow(NotFoundError);
    expect(b.row.draining).toBe(false);
  });
});
