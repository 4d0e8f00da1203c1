import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentIdentity } from '../agent/identity.js';
import { FeedFrameReader } from '../protocol/index.js';
import { silentLogger } from '../shared/logger.js';
import { apiCaller } from '../test-support/inject.js';
import { type SlipwayServer, startServer } from './server.js';

/** The wire protocol, exercised in-process against the real server and a real SQLite store. */
let server: SlipwayServer;
let dir: string;
let admin: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-proto-'));
  server = await startServer({
    config: { port: 0, dataDir: dir, logLevel: 'silent', leaseTtlSeconds: 2 },
    logger: silentLogger,
  });
  admin = (await readFile(server.adminTokenFile, 'utf8')).trim();
});
afterEach(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

const call = apiCaller(() => server);

async function pat(scopes = ['agent:register']) {
  return (await call('POST', 'tokens', admin, { scopes, expiresInDays: 1 })).body.token as string;
}

/** Registers an agent the way the real one does and opens its session. */
async function agent(name: string, capabilities: Record<string, string> = {}) {
  const identity = new AgentIdentity();
  const reg = await call('POST', 'agents/register', await pat(), {
    pool: 'default',
    name,
    publicKey: identity.publicKeyPem,
  });
  expect(reg.status).toBe(201);
  const agentId = reg.body.agentId as string;
  const tok = await call('POST', 'agents/token', undefined, { assertion: await identity.assertion(agentId) });
  const access = tok.body.accessToken as string;
  const session = await call('POST', 'agents/session', access, { capabilities, version: 'test' });
  return { identity, agentId, access, sessionId: session.body.sessionId as string };
}

async function queue(yaml: string) {
  const res = await call('POST', 'runs', admin, { pipeline: { file: 'p.yml', content: yaml } });
  expect(res.status).toBe(201);
  return res.body as {
    id: string;
    jobs: { id: string; name: string; status: string; result: string | null; reason: string | null }[];
  };
}

const ONE_JOB = 'steps:\n- script: echo hi\n';

describe('credentials', () => {
  it('refuses missing, unknown, malformed and revoked tokens with 401 and the reason', async () => {
    expect((await call('GET', 'pools')).body.error.message).toBe('missing bearer token');
    expect((await call('GET', 'pools', 'nope')).body.error.message).toBe('malformed token');
    const fake = `slw_pat_${'A'.repeat(43)}`;
    expect(await call('GET', 'pools', fake)).toMatchObject({
      status: 401,
      body: { error: { message: 'unknown token' } },
    });
    const created = await call('POST', 'tokens', admin, { scopes: ['runs:read'], expiresInDays: 1 });
    await call('DELETE', `tokens/${created.body.id}`, admin);
    expect(await call('GET', 'pools', created.body.token)).toMatchObject({
      status: 401,
      body: { error: { message: 'token revoked' } },
    });
  });

  it('keeps tokens apart by scope: a registration PAT cannot queue runs or make tokens', async () => {
    const p = await pat();
    expect((await call('POST', 'runs', p, { pipeline: { file: 'p.yml', content: ONE_JOB } })).status).toBe(
      403,
    );
    expect((await call('POST', 'tokens', p, { scopes: ['admin'] })).status).toBe(403);
  });

  it('issues access tokens only for a fresh assertion signed by the agent’s own key', async () => {
    const a = await agent('a');
    const assertion = await a.identity.assertion(a.agentId);
    expect((await call('POST', 'agents/token', undefined, { assertion })).status).toBe(200);
    expect(await call('POST', 'agents/token', undefined, { assertion })).toMatchObject({
      status: 401,
      body: { error: { message: 'assertion replayed' } },
    });
    const forged = await new AgentIdentity().assertion(a.agentId);
    expect((await call('POST', 'agents/token', undefined, { assertion: forged })).status).toBe(401);
  });

  it('refuses a taken name unless replace, which revokes the old key and tokens', async () => {
    const old = await agent('same');
    const fresh = new AgentIdentity();
    const dup = await call('POST', 'agents/register', await pat(), {
      pool: 'default',
      name: 'same',
      publicKey: fresh.publicKeyPem,
    });
    expect(dup.status).toBe(409);
    const replaced = await call('POST', 'agents/register', await pat(), {
      pool: 'default',
      name: 'same',
      publicKey: fresh.publicKeyPem,
      replace: true,
    });
    expect(replaced.status).toBe(201);
    expect((await call('POST', 'agents/poll', old.access, { sessionId: old.sessionId })).status).toBe(401);
    const oldAssertion = await old.identity.assertion(old.agentId);
    expect((await call('POST', 'agents/token', undefined, { assertion: oldAssertion })).status).toBe(401);
  });
});

describe('dispatch', () => {
  it('lets exactly one of two racing agents claim a job', async () => {
    const [a, b] = [await agent('a'), await agent('b')];
    const run = await queue(ONE_JOB);
    const jobId = run.jobs[0]!.id;
    const results = await Promise.all([
      call('POST', `jobs/${jobId}/claim`, a.access, { sessionId: a.sessionId }),
      call('POST', `jobs/${jobId}/claim`, b.access, { sessionId: b.sessionId }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
  });

  it('wakes a waiting poller the moment a job it fits is queued', async () => {
    const a = await agent('a');
    const poll = call('POST', 'agents/poll', a.access, { sessionId: a.sessionId });
    await new Promise((r) => setTimeout(r, 100));
    const run = await queue(ONE_JOB);
    const offer = await poll;
    expect(offer.status).toBe(200);
    expect(offer.body.jobId).toBe(run.jobs[0]!.id);
  });

  it('offers a job only to agents whose capabilities meet its demands', async () => {
    const plain = await agent('plain');
    const gpu = await agent('gpu', { gpu: 'a100' });
    const run = await queue('pool: { name: default, demands: [gpu -equals A100] }\nsteps:\n- script: echo\n');
    const claimPlain = await call('POST', `jobs/${run.jobs[0]!.id}/claim`, plain.access, {
      sessionId: plain.sessionId,
    });
    expect(claimPlain.status).toBe(403);
    const offer = await call('POST', 'agents/poll', gpu.access, { sessionId: gpu.sessionId });
    expect(offer.body.jobId).toBe(run.jobs[0]!.id);
  });
});

describe('leases, logs and completion', () => {
  async function claimed() {
    const a = await agent('a');
    const run = await queue(ONE_JOB);
    const jobId = run.jobs[0]!.id;
    const spec = (await call('POST', `jobs/${jobId}/claim`, a.access, { sessionId: a.sessionId })).body;
    return { a, run, jobId, lease: spec.leaseToken as string, epoch: spec.epoch as number };
  }

  it('appends logs by offset: a resent chunk is stored once, a gap is refused', async () => {
    const { jobId, lease, epoch } = await claimed();
    const send = (offset: number, data: string) =>
      call('POST', `jobs/${jobId}/logs?epoch=${epoch}&step=0&offset=${offset}`, lease, Buffer.from(data));
    expect((await send(0, 'hello ')).body.length).toBe(6);
    expect((await send(0, 'hello ')).body.length).toBe(6);
    expect((await send(6, 'wörld\n')).body.length).toBe(13);
    const gap = await send(20, 'x');
    expect(gap.status).toBe(409);
    // The sender resends from the stored length the refusal names.
    expect(gap.body.error).toMatchObject({ code: 'log_gap', offset: 20, length: 13 });
    const log = await server.app.inject({
      url: `/api/v1/jobs/${jobId}/log`,
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(log.body).toBe('hello wörld\n');
  });

  it('takes the same result twice but not a different one, and refuses the lease token afterwards', async () => {
    const { jobId, lease, epoch } = await claimed();
    expect((await call('POST', `jobs/${jobId}/complete`, lease, { epoch, result: 'succeeded' })).status).toBe(
      200,
    );
    expect((await call('POST', `jobs/${jobId}/complete`, lease, { epoch, result: 'succeeded' })).status).toBe(
      200,
    );
    expect((await call('POST', `jobs/${jobId}/complete`, lease, { epoch, result: 'failed' })).status).toBe(
      409,
    );
    expect((await call('POST', `jobs/${jobId}/heartbeat`, lease, { epoch })).status).toBe(409);
    expect(
      (await call('POST', `jobs/${jobId}/logs?epoch=${epoch}&step=0&offset=0`, lease, Buffer.from('x')))
        .status,
    ).toBe(409);
  });

  it('fails an attempt whose agent stops heartbeating as "agent lost", and fences its late writes', async () => {
    const { run, jobId, lease, epoch } = await claimed();
    await call(
      'POST',
      `jobs/${jobId}/logs?epoch=${epoch}&step=0&offset=0`,
      lease,
      Buffer.from('before the loss\n'),
    );
    await new Promise((r) => setTimeout(r, 3_000));
    const view = (await call('GET', `runs/${run.id}`, admin)).body;
    expect(view.jobs[0].result).toBe('failed');
    expect(view.jobs[0].reason).toMatch(/agent lost/);
    expect(view.status).toBe('completed');
    const late = await call(
      'POST',
      `jobs/${jobId}/logs?epoch=${epoch}&step=0&offset=16`,
      lease,
      Buffer.from('late\n'),
    );
    expect([401, 409]).toContain(late.status);
    const log = await server.app.inject({
      url: `/api/v1/jobs/${jobId}/log`,
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(log.body).toBe('before the loss\n');
    // The raw feed of the finished run: the same events, the log as its bytes, then its end.
    const raw = await server.app.inject({
      url: `/api/v1/runs/${run.id}/stream?after=0`,
      headers: { authorization: `Bearer ${admin}` },
    });
    const items = new FeedFrameReader().push(raw.rawPayload);
    const logs = items.flatMap((i) => ('event' in i && i.event.kind === 'log' ? [i.event] : []));
    expect(logs.map((e) => e.data.text)).toContain('before the loss\n');
    expect(items.at(-1)).toEqual({ next: expect.any(Number), done: true });
    const feed = (await call('GET', `runs/${run.id}/events?after=0`, admin)).body;
    const events = items.flatMap((i) => ('event' in i ? [i.event] : []));
    expect(JSON.parse(JSON.stringify(events))).toEqual(feed.events);
  });

  it('delivers a cancel through a held heartbeat at once', async () => {
    const { run, jobId, lease, epoch } = await claimed();
    const beat = call('POST', `jobs/${jobId}/heartbeat`, lease, { epoch, waitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await call('POST', `runs/${run.id}/cancel`, admin);
    expect((await beat).body.cancel).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});

describe('input limits', () => {
  it('answers 400 naming the field for a malformed body and 413 for an oversized one', async () => {
    const bad = await call('POST', 'runs', admin, { pipeline: { file: 'p.yml' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/pipeline\.content/);
    const huge = await call('POST', 'runs', admin, {
      pipeline: { file: 'p.yml', content: 'x'.repeat(5 * 1024 * 1024) },
    });
    expect(huge.status).toBe(413);
  });

  it("fails at once a job that asks for the host's Docker socket on a pool that does not allow it", async () => {
    const res = await call('POST', 'runs', admin, {
      pipeline: {
        file: 'p.yml',
        content: 'jobs:\n- job: a\n  docker: socket\n  steps:\n  - script: docker ps\n',
      },
    });
    expect(res.body.jobs[0]).toMatchObject({ status: 'completed', result: 'failed' });
    expect(res.body.jobs[0].reason).toMatch(/asks for 'docker: socket', which pool 'default' does not allow/);
  });

  it('refuses a pipeline error with its file:line:col and stores no run', async () => {
    const res = await call('POST', 'runs', admin, {
      pipeline: { file: 'p.yml', content: 'steps:\n- scrpt: echo\n' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/^p\.yml:2:3: /);
    expect((await call('GET', 'runs', admin)).body).toEqual([]);
  });
});
