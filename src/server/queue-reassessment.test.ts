import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentIdentity } from '../agent/identity.js';
import { silentLogger } from '../shared/logger.js';
import { apiCaller } from '../test-support/inject.js';
import { type SlipwayServer, startServer } from './server.js';

/**
 * Queued jobs are looked at again whenever what could serve their pool changes: the order in
 * which runs, agents and fleets arrive must not decide whether a run ever ends.
 */
let server: SlipwayServer;
let dir: string;
let admin: string;
/** Server time runs ahead of the wall clock by this much (fleet presence, queue timeouts). */
let ahead = 0;

beforeEach(async () => {
  ahead = 0;
  dir = await mkdtemp(join(tmpdir(), 'slipway-queue-'));
  server = await startServer({
    config: { port: 0, dataDir: dir, logLevel: 'silent' },
    logger: silentLogger,
    clock: { now: () => Date.now() + ahead },
  });
  admin = (await readFile(server.adminTokenFile, 'utf8')).trim();
});
afterEach(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

const call = apiCaller(() => server);

async function register(name: string) {
  const pat = (await call('POST', 'tokens', admin, { scopes: ['agent:register'], expiresInDays: 1 })).body
    .token;
  const identity = new AgentIdentity();
  const reg = await call('POST', 'agents/register', pat, {
    pool: 'default',
    name,
    publicKey: identity.publicKeyPem,
  });
  expect(reg.status).toBe(201);
  const agentId = reg.body.agentId as string;
  const tok = await call('POST', 'agents/token', undefined, { assertion: await identity.assertion(agentId) });
  return { agentId, access: tok.body.accessToken as string };
}

/** Registers an agent and opens its session, as the real agent does at start. */
async function agent(name: string, capabilities: Record<string, string> = {}) {
  const a = await register(name);
  const session = await call('POST', 'agents/session', a.access, { capabilities, version: 'test' });
  expect(session.status).toBe(200);
  return { ...a, sessionId: session.body.sessionId as string };
}

async function queue(yaml: string) {
  const res = await call('POST', 'runs', admin, { pipeline: { file: 'p.yml', content: yaml } });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function view(runId: string) {
  return (await call('GET', `runs/${runId}`, admin)).body as {
    status: string;
    result: string | null;
    jobs: { id: string; name: string; status: string; result: string | null; reason: string | null }[];
  };
}

/** The run's view once `done` holds (the routes look at the queue again without waiting for it). */
async function viewWhen(runId: string, done: (v: Awaited<ReturnType<typeof view>>) => boolean) {
  // Well inside the periodic pass (5 s): what these tests see comes from the route that announced the change.
  const deadline = Date.now() + 3_000;
  for (;;) {
    const v = await view(runId);
    if (done(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function events(runId: string) {
  return (await call('GET', `runs/${runId}/events`, admin)).body.events as {
    kind: string;
    jobName: string | null;
    data: Record<string, unknown>;
  }[];
}

const GPU_JOB = `pool: { name: default, demands: [gpu-unobtainium] }
steps:
- script: echo never
`;

describe('a job queued before the agents came', () => {
  it('fails with the unmet demands as soon as agents announce capabilities that cannot meet them, and the run ends', async () => {
    const runId = await queue(GPU_JOB);
    expect((await view(runId)).jobs[0]).toMatchObject({ status: 'queued' });

    await agent('plain', { 'Agent.OS': 'Linux' });

    const v = await viewWhen(runId, (r) => r.status === 'completed');
    expect(v).toMatchObject({ status: 'completed', result: 'failed' });
    expect(v.jobs[0]!.reason).toBe(
      "no agent in pool 'default' meets the demands of job 'job': gpu-unobtainium",
    );
  });

  it('waits while a registered agent has not yet announced its capabilities', async () => {
    const runId = await queue(GPU_JOB);
    const a = await register('slow-starter');
    expect((await viewWhen(runId, (r) => r.jobs[0]!.reason !== null)).jobs[0]).toMatchObject({
      status: 'queued',
      reason: "waiting for an agent of pool 'default' to announce its capabilities",
    });
    await call('POST', 'agents/session', a.access, {
      capabilities: { 'gpu-unobtainium': '1' },
      version: 't',
    });
    await server.context.scheduler.reconsiderQueue();
    expect((await view(runId)).jobs[0]).toMatchObject({ status: 'queued' });
  });

  it('fails when the only agent that could serve it deregisters while it waits', async () => {
    await agent('plain');
    const gpu = await agent('gpu', { 'gpu-unobtainium': '1' });
    await server.context.scheduler.reconsiderQueue();
    const runId = await queue(GPU_JOB);
    expect((await view(runId)).jobs[0]).toMatchObject({ status: 'queued' });

    expect((await call('DELETE', 'agents/self', gpu.access)).status).toBe(204);

    const v = await view(runId);
    expect(v).toMatchObject({ status: 'completed', result: 'failed' });
    expect(v.jobs[0]!.reason).toMatch(/no agent in pool 'default' meets the demands.*gpu-unobtainium/);
  });

  it('fails a container job when the fleet that would start it stops announcing itself', async () => {
    const fleet = await call('PUT', 'pools/default/fleet', admin, { id: 'fleet-1', capabilities: {} });
    expect(fleet.status).toBe(200);
    const runId = await queue('container: some/image:1\nsteps:\n- script: echo hi\n');
    const waiting = (await view(runId)).jobs[0]!;
    expect(waiting).toMatchObject({
      status: 'queued',
      reason: "waiting for the fleet of pool 'default' to start its container",
    });

    ahead = 31_000; // past the fleet's presence window, with no heartbeat since
    await server.context.scheduler.reconsiderQueue();

    const v = await view(runId);
    expect(v).toMatchObject({ status: 'completed', result: 'failed' });
    expect(v.jobs[0]!.reason).toMatch(/no fleet serves pool 'default'/);
  });

  it('keeps waiting, and says for what, while only busy agents could serve it', async () => {
    const a = await agent('only');
    const first = await queue('steps:\n- script: sleep 100\n');
    const firstJob = (await view(first)).jobs[0]!.id;
    expect((await call('POST', `jobs/${firstJob}/claim`, a.access, { sessionId: a.sessionId })).status).toBe(
      200,
    );
    const second = await queue('steps:\n- script: echo next\n');

    await server.context.scheduler.reconsiderQueue();
    expect((await view(second)).jobs[0]).toMatchObject({
      status: 'queued',
      reason: "waiting for an agent in pool 'default': 0 idle, 1 busy",
    });
    const said = (await events(second)).filter((e) => e.kind === 'job' && e.data.status === 'waiting');
    expect(said.map((e) => e.data.reason)).toEqual([
      "waiting for an agent in pool 'default': 0 idle, 1 busy",
    ]);
  });
});

describe('the queue timeout', () => {
  it('fails a job that no agent and no fleet served for the pool’s queue timeout, naming why', async () => {
    await call('POST', 'pools', admin, { name: 'lonely', settings: { queueTimeoutSeconds: 60 } });
    const runId = await queue('pool: lonely\nsteps:\n- script: echo hi\n');
    const job = (await view(runId)).jobs[0]!;
    expect(job).toMatchObject({ status: 'queued', reason: "no agent and no fleet serve pool 'lonely'" });
    const said = (await events(runId)).find((e) => e.kind === 'job' && e.data.status === 'waiting');
    expect(said?.data.reason).toBe("no agent and no fleet serve pool 'lonely'");

    ahead = 30_000;
    await server.context.scheduler.reconsiderQueue();
    expect((await view(runId)).jobs[0]).toMatchObject({ status: 'queued' });

    ahead = 61_000;
    await server.context.scheduler.reconsiderQueue();
    const v = await view(runId);
    expect(v).toMatchObject({ status: 'completed', result: 'failed' });
    expect(v.jobs[0]!.reason).toBe(
      "no agent and no fleet serve pool 'lonely': the job waited 1m, the pool's queue timeout",
    );
  });

  it('does not time out a job that a busy agent could serve', async () => {
    await call('POST', 'pools', admin, { name: 'small', settings: { queueTimeoutSeconds: 60 } });
    const pat = (await call('POST', 'tokens', admin, { scopes: ['agent:register'], expiresInDays: 1 })).body
      .token;
    const identity = new AgentIdentity();
    const reg = await call('POST', 'agents/register', pat, {
      pool: 'small',
      name: 'w',
      publicKey: identity.publicKeyPem,
    });
    const tok = await call('POST', 'agents/token', undefined, {
      assertion: await identity.assertion(reg.body.agentId),
    });
    const access = tok.body.accessToken as string;
    const { sessionId } = (await call('POST', 'agents/session', access, { capabilities: {}, version: 't' }))
      .body;
    const busy = await queue('pool: small\nsteps:\n- script: sleep 100\n');
    const busyJob = (await view(busy)).jobs[0]!.id;
    expect((await call('POST', `jobs/${busyJob}/claim`, access, { sessionId })).status).toBe(200);
    const waiting = await queue('pool: small\nsteps:\n- script: echo hi\n');

    ahead = 120_000;
    // The busy job's lease would expire too: keep it alive, as its agent would.
    await server.context.store.extendAllLeases(Date.now() + ahead + 90_000);
    await server.context.scheduler.reconsiderQueue();
    expect((await view(waiting)).jobs[0]).toMatchObject({ status: 'queued' });
  });
});
