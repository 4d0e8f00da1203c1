import { join } from 'node:path';
import { expect } from 'vitest';
import type { ApiClient } from '../protocol/client.js';
import { type RunEvent, type RunView, runEventsResponse, runView } from '../protocol/schemas.js';
import { type Proc, spawnAgentAt } from './harness.js';

// What the churn tests share (one coordinator restarted on SQLite, two replicas killed on
// PostgreSQL): the runs they queue and what must hold once the agents and servers stop dying.

/** Sizes from the environment, for a soak: SLIPWAY_CHURN_JOBS, _AGENTS, _SEED, _DEADLINE_MS. */
export function churnSize(defaults: { jobs: number; agents: number; seed: number; deadlineMs: number }) {
  const env = process.env;
  return {
    jobs: Number(env.SLIPWAY_CHURN_JOBS ?? defaults.jobs),
    agents: Number(env.SLIPWAY_CHURN_AGENTS ?? defaults.agents),
    seed: Number(env.SLIPWAY_CHURN_SEED ?? defaults.seed),
    deadlineMs: Number(env.SLIPWAY_CHURN_DEADLINE_MS ?? defaults.deadlineMs),
  };
}

export const JOBS_PER_RUN = 25;

/**
 * The `churn` pool (retried five times on agent loss) and its real agents `churn-0…`, which
 * register through `url` and take their names over again when restarted (`--replace`).
 */
export class ChurnAgents {
  readonly #procs = new Map<string, Proc>();

  private constructor(
    readonly url: string,
    readonly count: number,
    readonly pat: string,
    readonly dir: string,
  ) {}

  static async start(
    client: ApiClient,
    admin: string,
    o: { url: string; count: number; dir: string },
  ): Promise<ChurnAgents> {
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
    const agents = new ChurnAgents(o.url, o.count, pat, o.dir);
    for (let i = 0; i < o.count; i++) await agents.#spawn(`churn-${i}`);
    return agents;
  }

  /** Kills one agent, picked by `random`, with SIGKILL and starts it again under its name. */
  async killOne(random: () => number): Promise<void> {
    const name = `churn-${Math.floor(random() * this.count)}`;
    this.#procs.get(name)?.kill('SIGKILL');
    await this.#procs.get(name)?.exited;
    await this.#spawn(name);
  }

  /** Stops every agent (SIGTERM: each deregisters) and waits for them to exit. */
  async stop(): Promise<void> {
    for (const agent of this.#procs.values()) agent.kill('SIGTERM');
    await Promise.all([...this.#procs.values()].map((agent) => agent.exited));
  }

  async #spawn(name: string): Promise<void> {
    this.#procs.set(
      name,
      await spawnAgentAt(this.url, this.pat, name, join(this.dir, 'work', name), {
        args: ['--replace'],
        env: { AZP_POOL: 'churn' },
      }),
    );
  }
}

/** The line job `jN` prints in attempt `k`: each attempt's log must hold it once. */
const echoLine = (job: string, attempt: number) => `${job} attempt ${attempt}\n`;

/** Queues enough runs of `JOBS_PER_RUN` one-line jobs for `jobs` jobs in all; their ids. */
export async function queueChurnRuns(
  client: ApiClient,
  admin: string,
  pool: string,
  jobs: number,
): Promise<string[]> {
  const body = Array.from(
    { length: JOBS_PER_RUN },
    (_, i) => `- job: j${i}\n  steps:\n  - bash: echo "j${i} attempt $(System.JobAttempt)"\n`,
  );
  const content = `pool: ${pool}\njobs:\n${body.join('')}`;
  const ids: string[] = [];
  for (let r = 0; r < Math.ceil(jobs / JOBS_PER_RUN); r++) {
    const res = await client.request<{ id: string }>('runs', {
      token: admin,
      body: { pipeline: { file: 'churn.yml', content } },
    });
    ids.push(res.body.id);
  }
  return ids;
}

/** Every run's view once all are completed; undefined while one is not (or the server is away). */
export async function allCompleted(
  client: ApiClient,
  admin: string,
  runIds: string[],
): Promise<RunView[] | undefined> {
  try {
    const views = await Promise.all(
      runIds.map(async (id) => runView.parse((await client.request(`runs/${id}`, { token: admin })).body)),
    );
    return views.every((v) => v.status === 'completed') ? views : undefined;
  } catch {
    return undefined;
  }
}

/** A run's whole feed, page by page. */
export async function runEvents(client: ApiClient, admin: string, runId: string): Promise<RunEvent[]> {
  const all: RunEvent[] = [];
  let after = 0;
  for (;;) {
    const page = runEventsResponse.parse(
      (await client.request(`runs/${runId}/events?after=${after}&waitMs=0`, { token: admin })).body,
    );
    all.push(...page.events);
    if (page.events.length === 0 || page.next === after) return all;
    after = page.next;
  }
}

/**
 * What churn must not break, read through `client`: every job of every run ended once (one
 * completed event), failed only as `agent lost` and rarely (< 2 %), and its log holds the line
 * of each attempt that printed it once, the last attempt's surely. Returns how many failed.
 */
export async function expectChurnSurvived(
  client: ApiClient,
  admin: string,
  runIds: string[],
  finished: RunView[],
): Promise<number> {
  const allJobs = finished.flatMap((r) => r.jobs);
  expect(allJobs).toHaveLength(JOBS_PER_RUN * runIds.length);
  for (const run of finished) {
    const events = await runEvents(client, admin, run.id);
    const completions = new Map<string, number>();
    const logs = new Map<string, string>();
    for (const e of events) {
      if (e.kind === 'job' && e.data.status === 'completed')
        completions.set(e.jobId!, (completions.get(e.jobId!) ?? 0) + 1);
      if (e.kind === 'log') {
        const key = `${e.jobId}#${e.attempt}`;
        logs.set(key, (logs.get(key) ?? '') + e.data.text);
      }
    }
    expect(
      [...completions.values()].every((n) => n === 1),
      `run ${run.id}: a job completed twice`,
    ).toBe(true);
    expect(completions.size).toBe(JOBS_PER_RUN);
    for (const job of run.jobs) {
      for (let attempt = 1; attempt <= job.attempt; attempt++) {
        const text = logs.get(`${job.id}#${attempt}`) ?? '';
        const seen = text.split(echoLine(job.name, attempt)).length - 1;
        const why = `${job.name} (${job.id}) attempt ${attempt} log:\n${text}`;
        // An attempt lost before its step printed has no line; none has it twice.
        if (attempt === job.attempt && job.result === 'succeeded') expect(seen, why).toBe(1);
        else expect(seen, why).toBeLessThanOrEqual(1);
      }
    }
  }
  const failed = allJobs.filter((j) => j.result !== 'succeeded');
  // The steps' reasons say what went wrong when a job failed for another cause.
  for (const j of failed) expect(j.reason, JSON.stringify(j.steps)).toMatch(/^agent lost/);
  expect(failed.length).toBeLessThan(allJobs.length * 0.02);
  return failed.length;
}

/** A gauge or counter's value in Prometheus text (the first series whose line starts so). */
export function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').at(-1)) : Number.NaN;
}

/** Nothing leaks: with every agent gone, a server's gauges are back to zero. */
export async function expectGaugesAtRest(client: ApiClient): Promise<void> {
  const metrics = await (await client.fetch('/metrics')).text();
  expect(metric(metrics, 'slipway_leases_active')).toBe(0);
  expect(metric(metrics, 'slipway_jobs{state="running"}')).toBe(0);
  expect(metric(metrics, 'slipway_jobs{state="queued"}')).toBe(0);
  expect(metric(metrics, 'slipway_polls_waiting')).toBe(0);
  expect(metric(metrics, 'slipway_http_requests_in_flight')).toBeLessThanOrEqual(1);
}

/** Probes `/healthz` every 250 ms; a probe that fails while `up()` holds before and after counts. */
export function healthProber(client: ApiClient, up: () => boolean): { stop(): number[] } {
  const unanswered: number[] = [];
  const timer = setInterval(() => {
    if (!up()) return;
    void client.request('/healthz', { timeoutMs: 2_000 }).catch(() => {
      if (up()) unanswered.push(Date.now());
    });
  }, 250);
  return {
    stop() {
      clearInterval(timer);
      return unanswered;
    },
  };
}
