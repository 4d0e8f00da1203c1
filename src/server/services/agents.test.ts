import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentIdentity } from '../../agent/identity.js';
import {
  AgentBusyError,
  AuthError,
  ClaimLostError,
  ForbiddenError,
  GoneError,
  RateLimitError,
  SessionReplacedError,
} from '../../shared/errors.js';
import type { TokenRow } from '../../store/types.js';
import { type ServiceWorld, serviceWorld } from '../../test-support/services.js';
import { ACCESS_TOKEN_TTL_MS } from '../auth.js';

let w: ServiceWorld;
beforeEach(async () => {
  w = await serviceWorld({ limiter: { perClient: 3 } });
});
afterEach(() => w.stop());

const ONE_JOB = 'steps:\n- script: echo one\n';
const caller = { client: '10.0.0.9', route: '/api/v1/agents/token' };

async function ticket(name: string, jobId?: string): Promise<TokenRow> {
  const { ticket } = await w.pools.createTicket('default', { name, jobId, ttlSeconds: 300 });
  return w.credential(ticket);
}

describe('AgentService.register', () => {
  it('registers with a token and tells the scheduler its pool changed', async () => {
    const identity = new AgentIdentity();
    const reg = await w.agents.register(await w.registrar(), {
      pool: 'default',
      name: 'a1',
      publicKey: identity.publicKeyPem,
      replace: false,
    });
    expect(reg).toMatchObject({ name: 'a1', pool: 'default' });
    expect((await w.store.getAgent(reg.agentId))?.singleJob).toBe(false);
    expect(w.poolChanged).toHaveBeenCalledWith('default');
  });

  it('uses a ticket once, for exactly the agent it names; that agent is bound to the ticket job', async () => {
    const [jobId] = await w.queue(ONE_JOB);
    const key = new AgentIdentity().publicKeyPem;
    const cred = await ticket('fleet-1', jobId);
    await expect(
      w.agents.register(cred, { pool: 'default', name: 'fleet-2', publicKey: key, replace: false }),
    ).rejects.toThrow(ForbiddenError);
    const reg = await w.agents.register(cred, {
      pool: 'default',
      name: 'fleet-1',
      publicKey: key,
      replace: false,
    });
    const agent = await w.reload(reg.agentId);
    expect(agent).toMatchObject({ singleJob: true, boundJobId: jobId });
    await expect(
      w.agents.register(cred, { pool: 'default', name: 'fleet-1', publicKey: key, replace: false }),
    ).rejects.toThrow('registration ticket used already');
  });
});

describe('AgentService.start (a ticket agent in one request)', () => {
  const body = (name: string, capabilities: Record<string, string> = {}) => ({
    pool: 'default',
    name,
    publicKey: new AgentIdentity().publicKeyPem,
    capabilities,
    version: 'test',
  });

  it('registers, opens the session and claims the bound job: its lease and access token work', async () => {
    const [jobId] = await w.queue(ONE_JOB);
    const out = await w.agents.start(await ticket('fleet-1', jobId), body('fleet-1', { os: 'linux' }));
    expect(out).toMatchObject({ name: 'fleet-1', boundJobId: jobId, spec: { jobId, epoch: 1 } });
    const agent = await w.reload(out.agentId);
    expect(agent).toMatchObject({
      singleJob: true,
      boundJobId: jobId,
      sessionId: out.sessionId,
      capabilities: { os: 'linux' },
      claims: 1,
    });
    expect((await w.credential(out.accessToken)).agentId).toBe(out.agentId);
    expect(Date.parse(out.expiresAt)).toBe(w.clock.now() + ACCESS_TOKEN_TTL_MS);
    expect((await w.store.getJob(jobId!))?.agentId).toBe(out.agentId);
    await w.scheduler.complete(jobId!, out.spec!.epoch, 'succeeded');
    await expect(w.agents.claim(await w.reload(out.agentId), jobId!, out.sessionId)).rejects.toThrow(
      ForbiddenError,
    );
  });

  it('uses the ticket once, for its own name only, and refuses a token', async () => {
    const [jobId] = await w.queue(ONE_JOB);
    const cred = await ticket('fleet-1', jobId);
    await expect(w.agents.start(cred, body('fleet-2'))).rejects.toThrow(ForbiddenError);
    await w.agents.start(cred, body('fleet-1'));
    await expect(w.agents.start(cred, body('fleet-1'))).rejects.toThrow('registration ticket used already');
    await expect(w.agents.start(await w.registrar(), body('a1'))).rejects.toThrow(ForbiddenError);
  });

  it('answers without a spec when the bound job went elsewhere; the agent is registered all the same', async () => {
    const [jobId] = await w.queue(ONE_JOB);
    const other = await w.agent('a1');
    await w.agents.claim(other.row, jobId!, other.sessionId);
    const out = await w.agents.start(await ticket('fleet-1', jobId), body('fleet-1'));
    expect(out.spec).toBeUndefined();
    expect(out.boundJobId).toBe(jobId);
    expect((await w.store.getJob(jobId!))?.agentId).toBe(other.row.id);
    expect((await w.credential(out.accessToken)).agentId).toBe(out.agentId);
  });

  it('gives a warm ticket (no job) its session and no job', async () => {
    const out = await w.agents.start(await ticket('fleet-3'), body('fleet-3'));
    expect(out.spec).toBeUndefined();
    expect(out.boundJobId).toBeUndefined();
    expect(await w.reload(out.agentId)).toMatchObject({ sessionId: out.sessionId, boundJobId: null });
    expect(w.poolChanged).toHaveBeenCalledWith('default');
  });
});

describe('AgentService.exchangeToken', () => {
  it('trades a valid assertion for an access token that expires an hour from now', async () => {
    const a = await w.agent('a1');
    const out = await w.agents.exchangeToken(await a.identity.assertion(a.row.id), caller);
    expect(Date.parse(out.expiresAt)).toBe(w.clock.now() + ACCESS_TOKEN_TTL_MS);
    expect((await w.credential(out.accessToken)).agentId).toBe(a.row.id);
  });

  it('counts failures per client: 401 at first, 429 past the limit, and a valid assertion still passes', async () => {
    const a = await w.agent('a1');
    const replayed = await a.identity.assertion(a.row.id);
    await w.agents.exchangeToken(replayed, caller);
    for (let i = 0; i < 3; i++) {
      await expect(w.agents.exchangeToken(replayed, caller)).rejects.toThrow(AuthError);
    }
    await expect(w.agents.exchangeToken(replayed, caller)).rejects.toThrow(RateLimitError);
    // Another client is not limited by this one's failures.
    await expect(w.agents.exchangeToken(replayed, { client: '10.0.0.10' })).rejects.toThrow(AuthError);
    const fresh = await w.agents.exchangeToken(await a.identity.assertion(a.row.id), caller);
    expect(fresh.accessToken).toMatch(/^slw_agt_/);
  });
});

describe('AgentService.agentFor', () => {
  it('refuses a token whose agent was removed', async () => {
    const a = await w.agent('a1');
    const { accessToken } = await w.agents.exchangeToken(await a.identity.assertion(a.row.id), caller);
    const cred = await w.credential(accessToken);
    expect((await w.agents.agentFor(cred)).id).toBe(a.row.id);
    await w.pools.removeAgent('default', 'a1');
    await expect(w.agents.agentFor(cred)).rejects.toThrow('the agent was removed or replaced');
  });
});

describe('AgentService.poll', () => {
  it('marks the agent seen at the current time and answers null when nothing comes', async () => {
    const a = await w.agent('a1');
    w.clock.advance(5_000);
    expect(await w.agents.poll(a.row, a.sessionId, new AbortController().signal)).toBeNull();
    expect((await w.reload(a.row.id)).lastSeenAt).toBe(w.clock.now());
  });

  it('offers queued work', async () => {
    const a = await w.agent('a1');
    const [jobId] = await w.queue(ONE_JOB);
    expect(await w.agents.poll(a.row, a.sessionId, new AbortController().signal)).toMatchObject({ jobId });
  });

  it('claims what it offers when asked: the answer carries the spec, its lease works, its steps wait', async () => {
    const a = await w.agent('a1');
    const b = await w.agent('b1');
    const [jobId] = await w.queue(ONE_JOB);
    const signal = new AbortController().signal;
    const answer = await w.agents.poll(a.row, a.sessionId, signal, true);
    expect(answer).toMatchObject({ jobId, spec: { jobId, epoch: 1 } });
    expect(await w.store.getJob(jobId!)).toMatchObject({ status: 'running', agentId: a.row.id });
    expect(await w.auth.authenticate(`Bearer ${answer!.spec!.leaseToken}`, ['job'])).toMatchObject({
      jobId,
      epoch: 1,
    });
    expect((await w.store.listSteps(jobId!, 1)).map((s) => s.state)).toEqual(['pending']);
    // The job is taken: the other agent's poll gets nothing.
    expect(await w.agents.poll(b.row, b.sessionId, signal, true)).toBeNull();
  });

  it('answers a holder that polls again (the answer was lost) with the same attempt, not a second job', async () => {
    const a = await w.agent('a1');
    const [jobId] = await w.queue(ONE_JOB);
    await w.queue(ONE_JOB);
    const signal = new AbortController().signal;
    const first = await w.agents.poll(a.row, a.sessionId, signal, true);
    const again = await w.agents.poll(await w.reload(a.row.id), a.sessionId, signal, true);
    expect(again).toMatchObject({ jobId, spec: { jobId, epoch: first!.spec!.epoch } });
    expect(again!.spec!.leaseToken).not.toBe(first!.spec!.leaseToken);
    expect((await w.store.getJob(jobId!))?.attempt).toBe(1);
    // An agent that does not claim on poll is still refused while it runs a job.
    await expect(w.agents.poll(await w.reload(a.row.id), a.sessionId, signal)).rejects.toThrow(
      AgentBusyError,
    );
  });

  it('refuses a replaced session, a busy agent, and an agent whose bound job is over', async () => {
    const a = await w.agent('a1');
    const signal = new AbortController().signal;
    const newer = await w.agents.openSession(a.row, { capabilities: {}, version: 'test' });
    await expect(w.agents.poll(a.row, newer.sessionId, signal)).rejects.toThrow(SessionReplacedError);
    const current = await w.reload(a.row.id);
    await expect(w.agents.poll(current, a.sessionId, signal)).rejects.toThrow(SessionReplacedError);

    const [jobId] = await w.queue(ONE_JOB);
    await w.agents.claim(current, jobId!, newer.sessionId);
    await expect(w.agents.poll(current, newer.sessionId, signal)).rejects.toThrow(AgentBusyError);

    const [bound] = await w.queue(ONE_JOB);
    const reg = await w.agents.register(await ticket('fleet-1', bound), {
      pool: 'default',
      name: 'fleet-1',
      publicKey: new AgentIdentity().publicKeyPem,
      replace: false,
    });
    const fleetAgent = await w.reload(reg.agentId);
    const { sessionId } = await w.agents.openSession(fleetAgent, { capabilities: {}, version: 'test' });
    await w.pools.failQueuedJob('default', bound!, 'image will not start');
    await expect(w.agents.poll(await w.reload(reg.agentId), sessionId, signal)).rejects.toThrow(GoneError);
  });
});

describe('AgentService.claim', () => {
  it('hands the job over with its lease', async () => {
    const a = await w.agent('a1');
    const [jobId] = await w.queue(ONE_JOB);
    const spec = await w.agents.claim(a.row, jobId!, a.sessionId);
    expect(spec).toMatchObject({ jobId, epoch: 1 });
    expect((await w.store.getJob(jobId!))?.agentId).toBe(a.row.id);
  });

  it("refuses another pool's job, a job the agent does not meet the demands of, and a second job", async () => {
    await w.pools.create({ name: 'other', settings: { allowDockerSocket: false } });
    const a = await w.agent('a1', { capabilities: { os: 'linux' } });
    const [elsewhere] = await w.queue('pool: other\nsteps:\n- script: echo x\n');
    await expect(w.agents.claim(a.row, elsewhere!, a.sessionId)).rejects.toThrow(
      'that job belongs to another pool',
    );
    const [demanding] = await w.queue(
      'pool:\n  name: default\n  demands: [os -equals windows]\nsteps:\n- script: x\n',
    );
    await expect(w.agents.claim(a.row, demanding!, a.sessionId)).rejects.toThrow(
      "this agent does not meet the job's demands",
    );
    const [first, second] = await w.queue(
      'jobs:\n- job: a\n  steps: [{ script: x }]\n- job: b\n  steps: [{ script: y }]\n',
    );
    await w.agents.claim(a.row, first!, a.sessionId);
    await expect(w.agents.claim(a.row, second!, a.sessionId)).rejects.toThrow(AgentBusyError);
  });

  it('lets a ticket agent claim its own job only, and only once', async () => {
    const [bound, other] = await w.queue(
      'jobs:\n- job: a\n  steps: [{ script: x }]\n- job: b\n  steps: [{ script: y }]\n',
    );
    const reg = await w.agents.register(await ticket('fleet-1', bound), {
      pool: 'default',
      name: 'fleet-1',
      publicKey: new AgentIdentity().publicKeyPem,
      replace: false,
    });
    const { sessionId } = await w.agents.openSession(await w.reload(reg.agentId), {
      capabilities: {},
      version: 'test',
    });
    const agent = await w.reload(reg.agentId);
    await expect(w.agents.claim(agent, other!, sessionId)).rejects.toThrow(
      'this agent was started for another job',
    );
    await w.agents.claim(agent, bound!, sessionId);
    await w.scheduler.complete(bound!, 1, 'succeeded');
    const after = await w.reload(reg.agentId);
    expect(after.claims).toBe(1);
    await expect(w.agents.claim(after, bound!, sessionId)).rejects.toThrow(ForbiddenError);
  });
});

describe('AgentService.claim asked again (its answer was lost: the replica died, the connection broke)', () => {
  it('gives the agent that holds the job the same attempt again, with a working lease', async () => {
    const a = await w.agent('a1');
    const [jobId] = await w.queue(ONE_JOB);
    const first = await w.agents.claim(a.row, jobId!, a.sessionId);
    const again = await w.agents.claim(a.row, jobId!, a.sessionId);
    expect(again).toMatchObject({ jobId, epoch: first.epoch, attempt: 1 });
    expect(again.leaseToken).not.toBe(first.leaseToken);
    expect((await w.store.getJob(jobId!))?.attempt).toBe(1);
    await w.scheduler.complete(jobId!, again.epoch, 'succeeded');
    expect((await w.store.getJob(jobId!))?.result).toBe('succeeded');
  });

  it('still refuses any other agent, and the holder once the job finished', async () => {
    const a = await w.agent('a1');
    const b = await w.agent('b1');
    const [jobId] = await w.queue(ONE_JOB);
    await w.agents.claim(a.row, jobId!, a.sessionId);
    await expect(w.agents.claim(b.row, jobId!, b.sessionId)).rejects.toThrow(ClaimLostError);
    await w.scheduler.complete(jobId!, 1, 'succeeded');
    await expect(w.agents.claim(a.row, jobId!, a.sessionId)).rejects.toThrow(ClaimLostError);
  });

  it('lets a ticket agent ask again for its one job', async () => {
    const [bound] = await w.queue(ONE_JOB);
    const reg = await w.agents.register(await ticket('fleet-2', bound), {
      pool: 'default',
      name: 'fleet-2',
      publicKey: new AgentIdentity().publicKeyPem,
      replace: false,
    });
    const { sessionId } = await w.agents.openSession(await w.reload(reg.agentId), {
      capabilities: {},
      version: 'test',
    });
    await w.agents.claim(await w.reload(reg.agentId), bound!, sessionId);
    const again = await w.agents.claim(await w.reload(reg.agentId), bound!, sessionId);
    expect(again).toMatchObject({ jobId: bound, epoch: 1 });
  });
});

describe('AgentService.deregister', () => {
  it('is refused while the agent runs a job, and tells the scheduler once it is gone', async () => {
    const a = await w.agent('a1');
    const [jobId] = await w.queue(ONE_JOB);
    await w.agents.claim(a.row, jobId!, a.sessionId);
    await expect(w.agents.deregister(a.row)).rejects.toThrow(AgentBusyError);
    const b = await w.agent('b1');
    w.poolChanged.mockClear();
    await w.agents.deregister(b.row);
    expect(await w.store.getAgent(b.row.id)).toBeUndefined();
    expect(w.poolChanged).toHaveBeenCalledWith('default');
  });
});
