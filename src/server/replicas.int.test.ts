import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../protocol/client.js';
import { type RunEvent, type RunView, runView } from '../protocol/schemas.js';
import { runEvents } from '../test-support/churn.js';
import { killAll, spawnAgentAt } from '../test-support/harness.js';
import { type ReplicaSet, startReplicaSet } from '../test-support/replicas.js';

// Two `slipway server` processes on one real PostgreSQL, sharing blobs in s3rver and one admin
// token file; agents reach them through a round-robin TCP proxy, as through a Service.

let set: ReplicaSet;
let admin: string;
let pat: string;
let viaProxy: string;
const replicas = () => set.replicas;
const proxy = () => set.proxy;

const client = (url: string) => new ApiClient(url);

async function queue(url: string, content: string): Promise<string> {
  const res = await client(url).request<{ id: string }>('runs', {
    token: admin,
    body: { pipeline: { file: 'replicas.yml', content } },
  });
  return res.body.id;
}

async function view(url: string, runId: string): Promise<RunView> {
  return runView.parse((await client(url).request(`runs/${runId}`, { token: admin })).body);
}

async function finished(url: string, runId: string, timeoutMs = 90_000): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await view(url, runId).catch(() => undefined);
    if (v?.status === 'completed') return v;
    if (Date.now() > deadline) throw new Error(`run ${runId} did not finish: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const events = (url: string, runId: string) => runEvents(client(url), admin, runId);

const logText = (evs: RunEvent[]) =>
  evs.map((e) => (e.kind === 'log' ? (e.data as { text: string }).text : '')).join('');

function completionsPerJob(evs: RunEvent[]): Map<string, number> {
  const n = new Map<string, number>();
  for (const e of evs)
    if (e.kind === 'job' && e.data.status === 'completed') n.set(e.jobId!, (n.get(e.jobId!) ?? 0) + 1);
  return n;
}

/** The admin token rows in the shared database, read there directly. */
async function adminRows(): Promise<number> {
  const db = new pg.Client({ connectionString: set.db.url });
  await db.connect();
  try {
    return Number((await db.query("SELECT count(*) AS n FROM tokens WHERE kind = 'adm'")).rows[0].n);
  } finally {
    await db.end();
  }
}

beforeAll(async () => {
  // Short, so the reaper test is quick; long enough that agents moving to the other
  // replica after a kill -9 renew in time on a busy machine.
  set = await startReplicaSet({ name: 'slipway-replicas', leaseTtl: 8 });
  admin = set.admin;
  viaProxy = set.viaProxy;
  pat = (
    await client(replicas()[1]!.url).request<{ token: string }>('tokens', {
      token: admin,
      body: { scopes: ['agent:register'] },
    })
  ).body.token;
  for (const [name, retry] of [
    ['spread', 3],
    ['direct', 0],
    ['reap', 0],
    ['survive', 0],
  ] as const) {
    await client(replicas()[0]!.url).request('pools', {
      token: admin,
      body: { name, settings: { retryCountOnAgentLoss: retry } },
    });
  }
}, 180_000);

afterAll(async () => {
  await killAll();
  await set?.stop();
});

const agent = (url: string, name: string, pool: string) =>
  spawnAgentAt(url, pat, name, join(set.dir, 'work', name), { args: ['--replace'], env: { AZP_POOL: pool } });

describe('two coordinator replicas on one PostgreSQL', () => {
  it('claims each job once whichever replica its agent talks to; logs written through one read through the other', {
    timeout: 180_000,
  }, async () => {
    for (let i = 0; i < 4; i++) await agent(viaProxy, `spread-${i}`, 'spread');
    const jobs = Array.from(
      { length: 12 },
      (_, i) => `- job: j${i}\n  steps:\n  - bash: echo "line of j${i}"\n`,
    );
    const content = `pool: spread\njobs:\n${jobs.join('')}`;
    const runs = [await queue(replicas()[0]!.url, content), await queue(replicas()[1]!.url, content)];
    for (const [i, runId] of runs.entries()) {
      const done = await finished(replicas()[i]!.url, runId);
      expect(done.result, JSON.stringify(done.jobs)).toBe('succeeded');
      expect(done.jobs.every((j) => j.attempt === 1)).toBe(true);
      // Read through the replica the run was not queued on.
      const evs = await events(replicas()[1 - i]!.url, runId);
      const once = completionsPerJob(evs);
      expect(once.size).toBe(12);
      expect([...once.values()].every((n) => n === 1)).toBe(true);
      for (let j = 0; j < 12; j++) expect(logText(evs)).toContain(`line of j${j}`);
    }
    expect(
      proxy().served.every((n) => n > 0),
      `connections per replica: ${proxy().served}`,
    ).toBe(true);
  });

  it("wakes an agent's long-poll on one replica when a run is queued through the other, well before the poll timeout", {
    timeout: 120_000,
  }, async () => {
    await agent(replicas()[1]!.url, 'direct-1', 'direct');
    // Let its first poll settle into waiting on B (the default poll timeout is 50 s).
    await new Promise((r) => setTimeout(r, 1_500));
    const queuedAt = Date.now();
    const runId = await queue(replicas()[0]!.url, 'pool: direct\nsteps:\n- bash: echo woke\n');
    const done = await finished(replicas()[0]!.url, runId);
    expect(done.result).toBe('succeeded');
    expect(Date.now() - queuedAt).toBeLessThan(25_000);
  });

  it('reaps the lease of a lost agent once, though both replicas run a reaper', {
    timeout: 120_000,
  }, async () => {
    const lost = await agent(viaProxy, 'reap-1', 'reap');
    const runId = await queue(replicas()[0]!.url, 'pool: reap\nsteps:\n- bash: echo started; sleep 60\n');
    const deadline = Date.now() + 30_000;
    while ((await view(replicas()[1]!.url, runId)).jobs[0]?.status !== 'running' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    lost.kill('SIGKILL');
    await lost.exited;
    const done = await finished(replicas()[1]!.url, runId);
    expect(done.jobs[0]).toMatchObject({ result: 'failed' });
    expect(done.jobs[0]!.reason).toMatch(/^agent lost/);
    expect([...completionsPerJob(await events(replicas()[0]!.url, runId)).values()]).toEqual([1]);
  });

  it('kill -9 of one replica mid-run loses no job and no log line; its agents move to the other', {
    timeout: 180_000,
  }, async () => {
    for (let i = 0; i < 4; i++) await agent(viaProxy, `survive-${i}`, 'survive');
    const lines = 'for i in $(seq 1 40); do echo "$(System.JobName) line $i"; sleep 0.1; done';
    const jobs = Array.from({ length: 8 }, (_, i) => `- job: s${i}\n  steps:\n  - bash: ${lines}\n`);
    const runId = await queue(replicas()[1]!.url, `pool: survive\njobs:\n${jobs.join('')}`);
    const deadline = Date.now() + 30_000;
    while (
      (await view(replicas()[1]!.url, runId)).jobs.filter((j) => j.status === 'running').length < 4 &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const victim = replicas()[0]!;
    await set.kill(victim);
    const done = await finished(replicas()[1]!.url, runId, 120_000);
    expect(done.result, JSON.stringify(done.jobs)).toBe('succeeded');
    expect(done.jobs.every((j) => j.attempt === 1)).toBe(true);
    const text = logText(await events(replicas()[1]!.url, runId));
    for (let j = 0; j < 8; j++) for (let i = 1; i <= 40; i++) expect(text).toContain(`s${j} line ${i}\n`);
    // Back again: it serves the same state.
    await set.start(victim);
    expect((await view(victim.url, runId)).status).toBe('completed');
  });
});

describe('one admin token for every replica (--admin-token-file)', () => {
  it('works on both replicas, is stored once, and a restart adds no row', { timeout: 120_000 }, async () => {
    expect(await adminRows()).toBe(1);
    for (const r of replicas()) {
      const res = await client(r.url).request<unknown[]>('pools', { token: admin });
      expect(res.status, r.name).toBe(200);
      // Nothing of the token is written into a replica's own data directory.
      expect(existsSync(join(r.dataDir, 'admin.token')), r.name).toBe(false);
    }
    const b = replicas()[1]!;
    await set.kill(b);
    await set.start(b);
    expect(await adminRows()).toBe(1);
    expect((await client(b.url).request('pools', { token: admin })).status).toBe(200);
  });
});
