import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentIdentity } from '../agent/identity.js';
import { RunRenderer } from '../cli/render.js';
import { type RunEvent, runEvent, runEventsResponse } from '../protocol/schemas.js';
import { silentLogger } from '../shared/logger.js';
import { apiCaller } from '../test-support/inject.js';
import { type SlipwayServer, startServer } from './server.js';

/**
 * The run's event feed is a union discriminated by `kind` (and, for run and job events, by
 * `status`): every event a real run emits must parse, and parse to itself (no field the
 * server sends is unknown to the schema).
 */
let server: SlipwayServer;
let dir: string;
let admin: string;
/** Server time runs ahead of the wall clock by this much (lease expiry). */
let ahead = 0;

beforeEach(async () => {
  ahead = 0;
  dir = await mkdtemp(join(tmpdir(), 'slipway-events-'));
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

async function agent(pool: string, name: string) {
  const pat = (await call('POST', 'tokens', admin, { scopes: ['agent:register'], expiresInDays: 1 })).body
    .token;
  const identity = new AgentIdentity();
  const reg = await call('POST', 'agents/register', pat, { pool, name, publicKey: identity.publicKeyPem });
  expect(reg.status).toBe(201);
  const agentId = reg.body.agentId as string;
  const tok = await call('POST', 'agents/token', undefined, { assertion: await identity.assertion(agentId) });
  const access = tok.body.accessToken as string;
  const session = await call('POST', 'agents/session', access, { capabilities: {}, version: 'test' });
  expect(session.status).toBe(200);
  return { access, sessionId: session.body.sessionId as string };
}

type Agent = Awaited<ReturnType<typeof agent>>;

/** Claims the job and runs its one step as an agent would: step events, a log line, the result. */
async function runJob(a: Agent, jobId: string, result: 'succeeded' | 'failed' | null) {
  const claim = await call('POST', `jobs/${jobId}/claim`, a.access, { sessionId: a.sessionId });
  expect(claim.status).toBe(200);
  const { leaseToken: lease, epoch } = claim.body as { leaseToken: string; epoch: number };
  const post = async (what: string, body: object) => {
    const res = await call('POST', `jobs/${jobId}/${what}`, lease, { epoch, ...body });
    expect(res.status, `${what}: ${res.raw}`).toBe(200);
  };
  const log = async (step: number, text: string) => {
    const res = await call(
      'POST',
      `jobs/${jobId}/logs?epoch=${epoch}&step=${step}&offset=0`,
      lease,
      Buffer.from(text),
    );
    expect(res.status, `logs: ${res.raw}`).toBe(200);
  };
  await log(-1, 'setting up\n');
  await post('steps', { index: 0, state: 'running', name: 'say hi' });
  await log(0, 'hi\n');
  if (result === null) return; // the agent is lost here
  const reason = result === 'failed' ? { reason: 'exit code 1' } : {};
  await post('steps', { index: 0, state: 'completed', result, ...reason });
  await post('complete', { result, ...reason });
}

async function jobIds(runId: string): Promise<Record<string, string>> {
  const view = (await call('GET', `runs/${runId}`, admin)).body as { jobs: { id: string; name: string }[] };
  return Object.fromEntries(view.jobs.map((j) => [j.name, j.id]));
}

/** Every event of the run, page by page, as the wire carries them (raw) and as the schema reads them. */
async function feed(runId: string): Promise<{ raw: unknown[]; parsed: RunEvent[] }> {
  const raw: unknown[] = [];
  const parsed: RunEvent[] = [];
  let after = 0;
  for (;;) {
    const res = await call('GET', `runs/${runId}/events?after=${after}`, admin);
    expect(res.status).toBe(200);
    const page = runEventsResponse.parse(res.body);
    raw.push(...(res.body.events as unknown[]));
    parsed.push(...page.events);
    after = page.next;
    if (page.done) return { raw, parsed };
  }
}

const PIPELINE = `pool: flaky
jobs:
- job: build
  steps:
  - script: echo hi
    displayName: say hi
- job: test
  dependsOn: build
  steps:
  - script: echo hi
    displayName: say hi
- job: docs
  dependsOn: test
  condition: succeeded()
  steps:
  - script: echo never
`;

describe('the run event feed', () => {
  it('parses every event of a run that waits, loses an agent, retries, fails and skips', async () => {
    expect(
      (await call('POST', 'pools', admin, { name: 'flaky', settings: { retryCountOnAgentLoss: 1 } })).status,
    ).toBe(201);
    const created = await call('POST', 'runs', admin, { pipeline: { file: 'p.yml', content: PIPELINE } });
    expect(created.status).toBe(201);
    const runId = created.body.id as string;
    const ids = await jobIds(runId);

    // No agent serves the pool yet: the job waits, and says why.
    const first = await agent('flaky', 'first');
    await runJob(first, ids.build!, null);
    ahead = 2 * 60_000; // past the lease (90 s), within the agents' tokens: the job is queued again
    await server.context.scheduler.reapExpiredLeases();
    const second = await agent('flaky', 'second');
    await runJob(second, ids.build!, 'succeeded');
    await runJob(second, ids.test!, 'failed');

    const { raw, parsed } = await feed(runId);
    expect(parsed).toEqual(raw);
    const seen = new Set(parsed.map((e) => `${e.kind}:${'status' in e.data ? e.data.status : 'text'}`));
    expect([...seen].sort()).toEqual([
      'job:completed',
      'job:queued',
      'job:running',
      'job:waiting',
      'log:text',
      'run:completed',
      'run:queued',
      'run:running',
      'step:completed',
      'step:running',
    ]);
    const job = (name: string) =>
      parsed.flatMap((e) => (e.kind === 'job' && e.jobName === name ? [e.data] : []));
    // Waiting events come as the agents arrive and announce themselves; the first says why.
    expect(job('build').find((d) => d.status === 'waiting')).toEqual({
      status: 'waiting',
      reason: "no agent and no fleet serve pool 'flaky'",
    });
    expect(job('build').filter((d) => d.status !== 'waiting')).toEqual([
      { status: 'queued' },
      { status: 'running', agent: 'first' },
      { status: 'queued', retry: true, reason: 'agent lost: first stopped renewing its lease' },
      { status: 'running', agent: 'second' },
      { status: 'completed', result: 'succeeded', reason: null },
    ]);
    expect(job('docs')).toEqual([{ status: 'completed', result: 'skipped', reason: expect.any(String) }]);
    expect(parsed.filter((e) => e.kind === 'run').map((e) => e.data)).toEqual([
      { status: 'queued', number: 1 },
      { status: 'running' },
      { status: 'completed', result: 'failed' },
    ]);

    // What `slipway run` shows of it, read from the typed events.
    let out = '';
    const renderer = new RunRenderer((s) => {
      out += s;
    }, true);
    for (const e of parsed) renderer.event(e);
    expect(out).toContain("⧗ build no agent and no fleet serve pool 'flaky'");
    expect(out).toContain('▶ build on first');
    expect(out).toMatch(/↻ build .*agent lost.*; queued again/);
    expect(out).toContain('▶ build on second, attempt 2');
    expect(out).toMatch(/✘ test failed {2}\S+ — exit code 1/);
    expect(out).toMatch(/- docs skipped/);
  });

  it('refuses an event whose data does not fit its kind, naming the field', () => {
    const head = {
      runId: 'r',
      seq: 1,
      at: '2026-01-01T00:00:00.000Z',
      jobId: 'j',
      jobName: 'build',
      attempt: 1,
      step: null,
    };
    expect(
      runEvent.safeParse({ ...head, kind: 'job', data: { status: 'running', agent: 'a' } }).success,
    ).toBe(true);
    const wrong = runEvent.safeParse({ ...head, kind: 'job', data: { status: 'running' } });
    expect(wrong.success).toBe(false);
    expect(wrong.error?.issues.map((i) => i.path.join('.'))).toEqual(['data.agent']);
    const unknown = runEvent.safeParse({ ...head, kind: 'job', data: { status: 'sleeping' } });
    expect(unknown.error?.issues.map((i) => i.path.join('.'))).toEqual(['data.status']);
  });
});
