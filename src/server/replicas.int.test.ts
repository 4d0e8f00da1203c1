import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../protocol/client.js';
import { type RunEvent, type RunView, runEventsResponse, runView } from '../protocol/schemas.js';
import { freePort, killAll, type Proc, spawnAgentAt, spawnCli } from '../test-support/harness.js';
import { createTestDatabase, type TestDatabase } from '../test-support/postgres.js';
import { RoundRobinProxy } from '../test-support/round-robin-proxy.js';

// Two `slipway server` processes on one real PostgreSQL, sharing blobs in s3rver (an
// S3-compatible server from npm, standing in for S3/MinIO). Agents reach them through a
// round-robin TCP proxy, as a Kubernetes Service would spread them over two pods.

const BUCKET = 'slipway-replicas';
let dir: string;
let db: TestDatabase;
let s3: S3rver;
let endpoint: string;
let proxy: RoundRobinProxy;
let viaProxy: string;
let admin: string;
let pat: string;
const secretKey = randomBytes(32).toString('hex');
const replicas: { name: string; port: number; url: string; proc?: Proc }[] = [];

function startReplica(r: (typeof replicas)[number]): Promise<Proc> {
  const proc = spawnCli(
    [
      'server',
      '--port',
      String(r.port),
      '--data',
      join(dir, r.name),
      '--database',
      db.url,
      '--blobs',
      `s3://${BUCKET}?endpoint=${endpoint}`,
      // Short, so the reaper test is quick; long enough that agents moving to the other
      // replica after a kill -9 renew in time on a busy machine.
      '--lease-ttl',
      '8',
      '--log-level',
      'warn',
    ],
    { SLIPWAY_SECRET_KEY: secretKey, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
  );
  r.proc = proc;
  return proc.waitFor(/listening on/, 60_000).then(() => proc);
}

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

async function events(url: string, runId: string): Promise<RunEvent[]> {
  const all: RunEvent[] = [];
  let after = 0;
  for (;;) {
    const page = runEventsResponse.parse(
      (await client(url).request(`runs/${runId}/events?after=${after}`, { token: admin })).body,
    );
    all.push(...page.events);
    if (page.events.length === 0 || page.next === after) return all;
    after = page.next;
  }
}

const logText = (evs: RunEvent[]) =>
  evs.map((e) => (e.kind === 'log' ? (e.data as { text: string }).text : '')).join('');

function completionsPerJob(evs: RunEvent[]): Map<string, number> {
  const n = new Map<string, number>();
  for (const e of evs)
    if (e.kind === 'job' && e.data.status === 'completed') n.set(e.jobId!, (n.get(e.jobId!) ?? 0) + 1);
  return n;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-replicas-'));
  db = await createTestDatabase('slipway_replicas');
  s3 = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: join(dir, 's3'),
    configureBuckets: [{ name: BUCKET, configs: [] }],
  });
  endpoint = `http://127.0.0.1:${(await s3.run()).port}`;
  for (const name of ['a', 'b']) {
    const port = await freePort();
    replicas.push({ name, port, url: `http://127.0.0.1:${port}` });
  }
  // One after the other: the first migrates, the second finds the schema in place.
  for (const r of replicas) await startReplica(r);
  proxy = new RoundRobinProxy(replicas.map((r) => ({ host: '127.0.0.1', port: r.port })));
  viaProxy = await proxy.start();
  admin = (await readFile(join(dir, 'a', 'admin.token'), 'utf8')).trim();
  pat = (
    await client(replicas[1]!.url).request<{ token: string }>('tokens', {
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
    await client(replicas[0]!.url).request('pools', {
      token: admin,
      body: { name, settings: { retryCountOnAgentLoss: retry } },
    });
  }
}, 180_000);

afterAll(async () => {
  await killAll();
  await proxy?.stop();
  await s3?.close();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

const agent = (url: string, name: string, pool: string) =>
  spawnAgentAt(url, pat, name, join(dir, 'work', name), { args: ['--replace'], env: { AZP_POOL: pool } });

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
    const runs = [await queue(replicas[0]!.url, content), await queue(replicas[1]!.url, content)];
    for (const [i, runId] of runs.entries()) {
      const done = await finished(replicas[i]!.url, runId);
      expect(done.result, JSON.stringify(done.jobs)).toBe('succeeded');
      expect(done.jobs.every((j) => j.attempt === 1)).toBe(true);
      // Read through the replica the run was not queued on.
      const evs = await events(replicas[1 - i]!.url, runId);
      const once = completionsPerJob(evs);
      expect(once.size).toBe(12);
      expect([...once.values()].every((n) => n === 1)).toBe(true);
      for (let j = 0; j < 12; j++) expect(logText(evs)).toContain(`line of j${j}`);
    }
    expect(
      proxy.served.every((n) => n > 0),
      `connections per replica: ${proxy.served}`,
    ).toBe(true);
  });

  it("wakes an agent's long-poll on one replica when a run is queued through the other, well before the poll timeout", {
    timeout: 120_000,
  }, async () => {
    await agent(replicas[1]!.url, 'direct-1', 'direct');
    // Let its first poll settle into waiting on B (the default poll timeout is 50 s).
    await new Promise((r) => setTimeout(r, 1_500));
    const queuedAt = Date.now();
    const runId = await queue(replicas[0]!.url, 'pool: direct\nsteps:\n- bash: echo woke\n');
    const done = await finished(replicas[0]!.url, runId);
    expect(done.result).toBe('succeeded');
    expect(Date.now() - queuedAt).toBeLessThan(25_000);
  });

  it('reaps the lease of a lost agent once, though both replicas run a reaper', {
    timeout: 120_000,
  }, async () => {
    const lost = await agent(viaProxy, 'reap-1', 'reap');
    const runId = await queue(replicas[0]!.url, 'pool: reap\nsteps:\n- bash: echo started; sleep 60\n');
    const deadline = Date.now() + 30_000;
    while ((await view(replicas[1]!.url, runId)).jobs[0]?.status !== 'running' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    lost.kill('SIGKILL');
    await lost.exited;
    const done = await finished(replicas[1]!.url, runId);
    expect(done.jobs[0]).toMatchObject({ result: 'failed' });
    expect(done.jobs[0]!.reason).toMatch(/^agent lost/);
    expect([...completionsPerJob(await events(replicas[0]!.url, runId)).values()]).toEqual([1]);
  });

  it('kill -9 of one replica mid-run loses no job and no log line; its agents move to the other', {
    timeout: 180_000,
  }, async () => {
    for (let i = 0; i < 4; i++) await agent(viaProxy, `survive-${i}`, 'survive');
    const lines = 'for i in $(seq 1 40); do echo "$(System.JobName) line $i"; sleep 0.1; done';
    const jobs = Array.from({ length: 8 }, (_, i) => `- job: s${i}\n  steps:\n  - bash: ${lines}\n`);
    const runId = await queue(replicas[1]!.url, `pool: survive\njobs:\n${jobs.join('')}`);
    const deadline = Date.now() + 30_000;
    while (
      (await view(replicas[1]!.url, runId)).jobs.filter((j) => j.status === 'running').length < 4 &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const victim = replicas[0]!;
    victim.proc!.kill('SIGKILL');
    await victim.proc!.exited;
    const done = await finished(replicas[1]!.url, runId, 120_000);
    expect(done.result, JSON.stringify(done.jobs)).toBe('succeeded');
    expect(done.jobs.every((j) => j.attempt === 1)).toBe(true);
    const text = logText(await events(replicas[1]!.url, runId));
    for (let j = 0; j < 8; j++) for (let i = 1; i <= 40; i++) expect(text).toContain(`s${j} line ${i}\n`);
    // Back again: it serves the same state.
    await startReplica(victim);
    expect((await view(victim.url, runId)).status).toBe('completed');
  });
});
