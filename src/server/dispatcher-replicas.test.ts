import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRunRequest } from '../protocol/schemas.js';
import { silentLogger } from '../shared/logger.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { AgentRow } from '../store/types.js';
import { Auth } from './auth.js';
import { Dispatcher } from './dispatcher.js';
import { InProcessNotifier } from './notifier.js';
import { Scheduler } from './scheduler.js';
import { SecretVault } from './secret-vault.js';

/**
 * Replica A queues work, replica B holds the agent's poll. They share the database and a
 * notifier (one in-process notifier plays LISTEN/NOTIFY between them). B's periodic re-check
 * is frozen, so only the wake-up can bring the offer before the poll ends.
 */
let dir: string;
let stores: SqliteStore[];
let dispatchers: Dispatcher[];
let schedulerA: Scheduler;
const wire = new InProcessNotifier();
const clock = { now: () => Date.now() };

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  dir = await mkdtemp(join(tmpdir(), 'slipway-dispatch-replicas-'));
  const file = join(dir, 'slipway.db');
  stores = [new SqliteStore(file), new SqliteStore(file)];
  await stores[0]!.ensurePool('default', { allowDockerSocket: false }, 0);
  dispatchers = stores.map((store) => new Dispatcher({ store, clock, logger: silentLogger, notifier: wire }));
  const store = stores[0]!;
  schedulerA = new Scheduler({
    store,
    clock,
    logger: silentLogger,
    auth: new Auth({ store, clock, logger: silentLogger }),
    dispatcher: dispatchers[0]!,
    notifier: wire,
    vault: new SecretVault(randomBytes(32)),
    leaseTtlMs: 90_000,
  });
});

afterEach(async () => {
  for (const d of dispatchers) d.stop();
  for (const s of stores) await s.close();
  await rm(dir, { recursive: true, force: true });
  vi.useRealTimers();
});

async function agentOnB(): Promise<AgentRow> {
  const agent = await stores[1]!.registerAgent(
    { id: 'agent-1', pool: 'default', name: 'agent-1', publicKey: 'k', replace: false },
    clock.now(),
  );
  await stores[1]!.openSession(
    agent.id,
    { sessionId: 'sess-1', capabilities: {}, version: '1.0.0', boundJobId: null },
    clock.now(),
  );
  return (await stores[1]!.getAgent(agent.id))!;
}

describe('a dispatcher with replicas', () => {
  it('offers work queued through another replica to the poll it holds, on the wake-up alone', async () => {
    const agent = await agentOnB();
    const poll = dispatchers[1]!.poll(agent, 'sess-1', 3_000, new AbortController().signal);
    const run = await schedulerA.createRun(
      createRunRequest.parse({ pipeline: { file: 'p.yml', content: "steps: [{ script: 'true' }]" } }),
    );
    const offer = await poll;
    expect(offer).toMatchObject({ runId: run.id });
  });

  it('without the wake-up, the frozen re-check leaves the poll empty (the test can fail)', async () => {
    const agent = await agentOnB();
    const quiet = new Dispatcher({ store: stores[1]!, clock, logger: silentLogger });
    dispatchers.push(quiet);
    const poll = quiet.poll(agent, 'sess-1', 1_000, new AbortController().signal);
    await schedulerA.createRun(
      createRunRequest.parse({ pipeline: { file: 'p.yml', content: "steps: [{ script: 'true' }]" } }),
    );
    expect(await poll).toBeNull();
  });

  it("lets an agent's poll go when another replica drains it", async () => {
    const agent = await agentOnB();
    const poll = dispatchers[1]!.poll(agent, 'sess-1', 30_000, new AbortController().signal);
    expect(dispatchers[1]!.isPolling(agent.id)).toBe(true);
    wire.notify(`agent:${agent.id}`);
    expect(await poll).toBeNull();
    expect(dispatchers[1]!.isPolling(agent.id)).toBe(false);
  });
});
