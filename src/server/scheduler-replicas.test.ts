import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRunRequest } from '../protocol/schemas.js';
import { silentLogger } from '../shared/logger.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { AgentRow, EventRow, Store } from '../store/types.js';
import { Auth } from './auth.js';
import { Dispatcher } from './dispatcher.js';
import { InProcessNotifier } from './notifier.js';
import { Scheduler } from './scheduler.js';
import { SecretVault } from './secret-vault.js';

/**
 * Two coordinator replicas share one database and nothing else: each has its own store
 * connection, scheduler, dispatcher and notifier. Jobs of one run finishing on both at the same
 * moment must finish the run once, with the right result.
 */

/** Holds every caller of `countRunJobs` until `parties` of them arrived: the replicas read together. */
class Rendezvous {
  armed = false;
  private waiting: (() => void)[] = [];
  constructor(private readonly parties: number) {}

  arrive(): Promise<void> {
    if (!this.armed) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (this.waiting.length === this.parties) {
        this.armed = false;
        for (const go of this.waiting.splice(0)) go();
      }
    });
  }
}

function meetingAtCounts(store: SqliteStore, rendezvous: Rendezvous): Store {
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key === 'countRunJobs') {
        return async (runId: string) => {
          await rendezvous.arrive();
          return target.countRunJobs(runId);
        };
      }
      return Reflect.get(target, key, receiver);
    },
  });
}

let dir: string;
let stores: SqliteStore[];
let replicas: { scheduler: Scheduler; dispatcher: Dispatcher; store: Store }[];
const rendezvous = new Rendezvous(2);
const clock = { now: () => Date.now() };
const key = randomBytes(32);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-replicas-'));
  const file = join(dir, 'slipway.db');
  stores = [new SqliteStore(file), new SqliteStore(file)];
  await stores[0]!.ensurePool('default', { allowDockerSocket: false }, 0);
  replicas = stores.map((raw) => {
    const store = meetingAtCounts(raw, rendezvous);
    const dispatcher = new Dispatcher({ store, clock, logger: silentLogger });
    const scheduler = new Scheduler({
      store,
      clock,
      logger: silentLogger,
      auth: new Auth({ store, clock, logger: silentLogger }),
      dispatcher,
      notifier: new InProcessNotifier(),
      vault: new SecretVault(key),
      leaseTtlMs: 90_000,
    });
    return { scheduler, dispatcher, store };
  });
});
afterEach(async () => {
  for (const r of replicas) r.dispatcher.stop();
  for (const s of stores) await s.close();
  await rm(dir, { recursive: true, force: true });
});

/** A run of independent jobs, queued on replica 0, each claimed by its own agent. */
async function runningRun(jobs: number) {
  const a = replicas[0]!;
  const yaml = `jobs:\n${Array.from({ length: jobs }, (_, i) => `- job: j${i}\n  steps: [{ script: 'true' }]\n`).join('')}`;
  const run = await a.scheduler.createRun(
    createRunRequest.parse({ pipeline: { file: 'p.yml', content: yaml } }),
  );
  const claimed = [];
  for (const [i, job] of (await a.store.listJobs(run.id)).entries()) {
    const agent: AgentRow = await a.store.registerAgent(
      { id: `agent-${i}`, pool: 'default', name: `agent-${i}`, publicKey: 'k', replace: false },
      clock.now(),
    );
    const spec = await replicas[i % 2]!.scheduler.claim(job.id, agent);
    claimed.push({ jobId: job.id, epoch: spec.epoch });
  }
  return { runId: run.id, claimed };
}

async function runEvents(runId: string): Promise<EventRow[]> {
  return (await stores[0]!.listEvents(runId, 0, 10_000)).filter((e) => e.kind === 'run');
}

describe('two replicas advancing one run', () => {
  it('finish it exactly once when its last two jobs end on both at the same moment', async () => {
    const { runId, claimed } = await runningRun(2);
    const [first, second] = claimed;
    rendezvous.armed = true;
    await Promise.all([
      replicas[0]!.scheduler.complete(first!.jobId, first!.epoch, 'succeeded'),
      replicas[1]!.scheduler.complete(second!.jobId, second!.epoch, 'failed'),
    ]);
    expect(rendezvous.armed).toBe(false);
    const completed = (await runEvents(runId)).filter((e) => statusOf(e) === 'completed');
    expect(completed.map((e) => e.data)).toEqual([{ status: 'completed', result: 'failed' }]);
    expect(await stores[1]!.getRun(runId)).toMatchObject({ status: 'completed', result: 'failed' });
  });

  it('start and finish it once when many jobs end on both together', async () => {
    const { runId, claimed } = await runningRun(12);
    await Promise.all(
      claimed.map((c, i) =>
        replicas[i % 2]!.scheduler.complete(c.jobId, c.epoch, i === 7 ? 'succeededWithIssues' : 'succeeded'),
      ),
    );
    const statuses = (await runEvents(runId)).map((e) => statusOf(e));
    expect(statuses).toEqual(['queued', 'running', 'completed']);
    expect(await stores[0]!.getRun(runId)).toMatchObject({
      status: 'completed',
      result: 'succeededWithIssues',
    });
  });
});

/** The status an event reports; log events have none. */
function statusOf(e: { data: object }): unknown {
  return 'status' in e.data ? e.data.status : undefined;
}
