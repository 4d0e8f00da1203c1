import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ApiClient } from '../protocol/client.js';
import { type RunView, runEventsResponse, runView } from '../protocol/schemas.js';
import { freePort, killAll, type Proc, spawnAgentAt, spawnServer } from '../test-support/harness.js';
import { seededRandom } from '../test-support/seeded-random.js';

// Sized for CI on 2 cores; raise them for a soak: SLIPWAY_CHURN_JOBS=5000 SLIPWAY_CHURN_AGENTS=16 npx vitest run churn
const JOBS = Number(process.env.SLIPWAY_CHURN_JOBS ?? 500);
const AGENTS = Number(process.env.SLIPWAY_CHURN_AGENTS ?? 8);
const SEED = Number(process.env.SLIPWAY_CHURN_SEED ?? 7);
const JOBS_PER_RUN = 25;
const DEADLINE_MS = Number(process.env.SLIPWAY_CHURN_DEADLINE_MS ?? 240_000);

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').at(-1)) : Number.NaN;
}

it(`churn: ${JOBS} jobs on ${AGENTS} agents while agents are killed and the coordinator restarts`, {
  timeout: DEADLINE_MS + 60_000,
}, async () => {
  const random = seededRandom(SEED);
  const dir = await mkdtemp(join(tmpdir(), 'slipway-churn-'));
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const serverArgs = ['--lease-ttl', '3'];
  let server = await spawnServer(dataDir, port, serverArgs);
  let serverDown = false;
  const unansweredWhileUp: number[] = [];
  const agents = new Map<string, Proc>();
  try {
    const admin = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    const client = new ApiClient(url);
    await client.request('pools', {
      token: admin,
      body: { name: 'churn', settings: { retryCountOnAgentLoss: 5 } },
    });
    const pat = (
      await client.request<{ token: string }>('tokens', {
        token: admin,
        body: { scopes: ['agent:register'] },
      })
    ).body.token;
    const startAgent = async (name: string) => {
      agents.set(
        name,
        await spawnAgentAt(url, pat, name, join(dir, 'work', name), {
          args: ['--replace'],
          env: { AZP_POOL: 'churn' },
        }),
      );
    };
    for (let i = 0; i < AGENTS; i++) await startAgent(`churn-${i}`);

    const jobs = Array.from(
      { length: JOBS_PER_RUN },
      (_, i) => `- job: j${i}\n  steps:\n  - bash: echo "j${i} attempt $(System.JobAttempt)"\n`,
    );
    const content = `pool: churn\njobs:\n${jobs.join('')}`;
    const runIds: string[] = [];
    for (let r = 0; r < Math.ceil(JOBS / JOBS_PER_RUN); r++) {
      const res = await client.request<{ id: string }>('runs', {
        token: admin,
        body: { pipeline: { file: 'churn.yml', content } },
      });
      runIds.push(res.body.id);
    }

    // The server must answer whenever it is up.
    const prober = setInterval(() => {
      if (serverDown) return;
      void client.request('/healthz', { timeoutMs: 2_000 }).catch(() => {
        if (!serverDown) unansweredWhileUp.push(Date.now());
      });
    }, 250);

    const allDone = async () => {
      const views = await Promise.all(
        runIds.map(async (id) => runView.parse((await client.request(`runs/${id}`, { token: admin })).body)),
      );
      return views.every((v) => v.status === 'completed') ? views : undefined;
    };
    const deadline = Date.now() + DEADLINE_MS;
    let restarts = 0;
    let kills = 0;
    let finished: RunView[] | undefined;
    while (!finished && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500 + random() * 1_500));
      if (random() < 0.2 && restarts < 3) {
        serverDown = true;
        server.kill('SIGKILL');
        await server.exited;
        await new Promise((r) => setTimeout(r, 200 + random() * 800));
        server = await spawnServer(dataDir, port, serverArgs);
        serverDown = false;
        restarts++;
      } else {
        const name = `churn-${Math.floor(random() * AGENTS)}`;
        agents.get(name)?.kill('SIGKILL');
        await agents.get(name)?.exited;
        kills++;
        await startAgent(name);
      }
      finished = await allDone().catch(() => undefined);
    }
    while (!finished && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      finished = await allDone().catch(() => undefined);
    }
    clearInterval(prober);
    expect(finished, 'every run completed before the deadline').toBeDefined();

    // Every job ended in exactly one terminal state, reported once.
    const allJobs = finished!.flatMap((r) => r.jobs);
    expect(allJobs).toHaveLength(JOBS_PER_RUN * runIds.length);
    for (const id of runIds) {
      const { events } = runEventsResponse.parse(
        (await client.request(`runs/${id}/events?after=0`, { token: admin })).body,
      );
      const completions = new Map<string, number>();
      for (const e of events)
        if (e.kind === 'job' && e.data.status === 'completed')
          completions.set(e.jobId!, (completions.get(e.jobId!) ?? 0) + 1);
      expect([...completions.values()].every((n) => n === 1)).toBe(true);
      expect(completions.size).toBe(JOBS_PER_RUN);
    }
    const failed = allJobs.filter((j) => j.result !== 'succeeded');
    // The steps' reasons say what went wrong when a job failed for another cause.
    for (const j of failed) expect(j.reason, JSON.stringify(j.steps)).toMatch(/^agent lost/);
    expect(failed.length).toBeLessThan(allJobs.length * 0.02);
    expect(unansweredWhileUp).toEqual([]);

    // Nothing leaks: with every agent gone, the gauges are back to zero.
    for (const a of agents.values()) a.kill('SIGTERM');
    await Promise.all([...agents.values()].map((a) => a.exited));
    const metrics = await (await client.fetch('/metrics')).text();
    expect(metric(metrics, 'slipway_leases_active')).toBe(0);
    expect(metric(metrics, 'slipway_jobs{state="running"}')).toBe(0);
    expect(metric(metrics, 'slipway_jobs{state="queued"}')).toBe(0);
    expect(metric(metrics, 'slipway_polls_waiting')).toBe(0);
    expect(metric(metrics, 'slipway_http_requests_in_flight')).toBeLessThanOrEqual(1);
    console.log(
      `churn: ${allJobs.length} jobs, ${kills} agent kills, ${restarts} coordinator restarts, ${failed.length} failed after retries`,
    );
  } finally {
    await killAll();
  }
});
