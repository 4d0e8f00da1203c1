import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runView } from '../protocol/schemas.js';
import { silentLogger } from '../shared/logger.js';
import { killAll, spawnAgent, startTestServer, type TestServer } from '../test-support/harness.js';
import { startServer } from './server.js';

/** One sample of a scrape: `name{labels} value`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `labels`. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

const until = async <T>(check: () => Promise<T | undefined>, what: string, ms = 20_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('/metrics of a real server with a real agent (lease 2 s)', () => {
  let ts: TestServer;
  const scrape = async () => parse(await (await ts.client.fetch('/metrics')).text());
  const runJob = async (content: string, pool?: string) => {
    const { body } = await ts.client.request('runs', {
      token: ts.adminToken,
      body: { pipeline: { file: 'p.yml', content: pool ? `pool: ${pool}\n${content}` : content } },
    });
    return runView.parse(body);
  };
  const finished = (id: string) =>
    until(async () => {
      const run = await ts.client.getRun(id, { token: ts.adminToken });
      return run.status === 'completed' ? run : undefined;
    }, `run ${id} to finish`);

  beforeAll(async () => {
    ts = await startTestServer({ leaseTtlSeconds: 2 });
  });
  afterAll(async () => {
    await killAll();
    await ts.stop();
  });

  it('moves queue depth, waits, durations, results, log bytes, agents by state and HTTP latency', async () => {
    await ts.client.createPool({ name: 'lonely' }, { token: ts.adminToken });
    const before = await scrape();
    expect(value(before, 'slipway_queue_depth')).toBe(0);

    const waiting = await runJob(
      'pool: { name: lonely, demands: [docker, node -equals 20] }\nsteps: [{ script: a }]\n',
    );
    const queued = await scrape();
    expect(value(queued, 'slipway_queue_depth', { pool: 'lonely', demands: 'docker,node -equals 20' })).toBe(
      1,
    );
    await ts.client.cancelRun(waiting.id, { token: ts.adminToken });
    expect(value(await scrape(), 'slipway_queue_depth')).toBe(0);

    await spawnAgent(ts, 'metered');
    const ok = await finished(
      (await runJob('steps:\n- bash: head -c 3000 /dev/zero | tr "\\\\0" x; echo\n')).id,
    );
    expect(ok.result).toBe('succeeded');
    await finished((await runJob('steps: [{ bash: exit 4 }]\n')).id);

    const after = await until(async () => {
      const s = await scrape();
      return value(s, 'slipway_agents', { pool: 'default', state: 'idle' }) === 1 ? s : undefined;
    }, 'the agent idle again');
    expect(value(after, 'slipway_queue_wait_seconds_count', { pool: 'default', demands: 'none' })).toBe(2);
    expect(value(after, 'slipway_job_duration_seconds_count', { pool: 'default', result: 'succeeded' })).toBe(
      1,
    );
    expect(value(after, 'slipway_job_duration_seconds_count', { pool: 'default', result: 'failed' })).toBe(1);
    expect(value(after, 'slipway_jobs_completed_total', { result: 'canceled' })).toBe(1);
    expect(value(after, 'slipway_log_bytes_total', { pool: 'default' })).toBeGreaterThan(3000);
    expect(value(after, 'slipway_agents', { state: 'busy' })).toBe(0);
    const posts = { method: 'POST', route: '/api/v1/runs', status: '201' };
    expect(value(after, 'slipway_http_request_duration_seconds_count', posts)).toBe(
      value(before, 'slipway_http_request_duration_seconds_count', posts) + 3,
    );
    // No run, job or agent id (or agent name) is ever a label value.
    const values = after.flatMap((x) => Object.values(x.labels));
    expect(values.filter((v) => /^(run|job|agt)_|metered/.test(v))).toEqual([]);
    expect(values).not.toContain(ok.id);
  });

  it('moves fleet containers and scale events with each fleet heartbeat', async () => {
    const heartbeat = (totals: { started: number; exited: number }, idle: number) =>
      ts.client.fleetHeartbeat(
        'default',
        {
          id: 'fleet-1',
          capabilities: {},
          status: {
            containers: idle + 1,
            starting: 0,
            idle,
            busy: 1,
            minIdle: 1,
            max: 4,
            image: 'slipway/base:latest',
            totals: { ...totals, scaledDown: 0, startFailed: 0 },
            events: [],
          },
        },
        { token: ts.adminToken },
      );
    await heartbeat({ started: 2, exited: 0 }, 1);
    let s = await scrape();
    expect(value(s, 'slipway_fleet_containers', { pool: 'default', state: 'idle' })).toBe(1);
    expect(value(s, 'slipway_fleet_max_containers', { pool: 'default' })).toBe(4);
    expect(value(s, 'slipway_fleet_scale_events_total', { pool: 'default', kind: 'started' })).toBe(2);
    await heartbeat({ started: 5, exited: 2 }, 3);
    s = await scrape();
    expect(value(s, 'slipway_fleet_containers', { pool: 'default', state: 'idle' })).toBe(3);
    expect(value(s, 'slipway_fleet_scale_events_total', { pool: 'default', kind: 'started' })).toBe(5);
    expect(value(s, 'slipway_fleet_scale_events_total', { pool: 'default', kind: 'exited' })).toBe(2);
    // The same totals again add nothing.
    await heartbeat({ started: 5, exited: 2 }, 3);
    expect(value(await scrape(), 'slipway_fleet_scale_events_total', { kind: 'started' })).toBe(5);
  });

  it('counts a lease that expires when its agent is killed -9', async () => {
    const victim = await spawnAgent(ts, 'victim', { args: ['--capability', 'victim=1'] });
    const before = value(await scrape(), 'slipway_lease_expiries_total', { pool: 'default' });
    const run = await runJob(
      'pool: { name: default, demands: [victim] }\nsteps:\n- bash: echo started; sleep 15\n',
    );
    await until(async () => {
      const r = await ts.client.getRun(run.id, { token: ts.adminToken });
      return r.jobs[0]!.agentName === 'victim' && r.jobs[0]!.steps[0]?.state === 'running' ? r : undefined;
    }, 'the job running on the victim');
    victim.kill('SIGKILL');
    await finished(run.id);
    const s = await scrape();
    expect(value(s, 'slipway_lease_expiries_total', { pool: 'default' })).toBe(before + 1);
    expect(value(s, 'slipway_agent_lost_total')).toBe(1);
  });
});

describe('/metrics access', () => {
  it('answers loopback without a token, others only with metrics:read, and loopback too when configured so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-metrics-'));
    const server = await startServer({
      config: { port: 0, dataDir: join(dir, 'a'), logLevel: 'silent' },
      logger: silentLogger,
    });
    const closed = await startServer({
      config: { port: 0, dataDir: join(dir, 'b'), logLevel: 'silent', metricsLoopback: false },
      logger: silentLogger,
    });
    try {
      const { readFile } = await import('node:fs/promises');
      const admin = (await readFile(server.adminTokenFile, 'utf8')).trim();
      const pat = async (scopes: string[]) =>
        (
          await server.app.inject({
            method: 'POST',
            url: '/api/v1/tokens',
            headers: { authorization: `Bearer ${admin}` },
            payload: { scopes },
          })
        ).json().token as string;
      const get = (o: { ip: string; token?: string }, s = server) =>
        s.app.inject({
          method: 'GET',
          url: '/metrics',
          remoteAddress: o.ip,
          headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
        });
      expect((await get({ ip: '127.0.0.1' })).statusCode).toBe(200);
      expect((await get({ ip: '::1' })).statusCode).toBe(200);
      expect((await get({ ip: '172.17.0.2' })).statusCode).toBe(401);
      expect((await get({ ip: '172.17.0.2', token: await pat(['runs:read']) })).statusCode).toBe(403);
      const scraper = await pat(['metrics:read']);
      const ok = await get({ ip: '172.17.0.2', token: scraper });
      expect(ok.statusCode).toBe(200);
      expect(ok.body).toContain('slipway_queue_depth');
      expect((await get({ ip: '127.0.0.1' }, closed)).statusCode).toBe(401);
    } finally {
      await server.stop();
      await closed.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
