import { randomBytes } from 'node:crypto';
import { vi } from 'vitest';
import { AgentIdentity } from '../agent/identity.js';
import { createRunRequest } from '../protocol/schemas.js';
import { Auth, FailureLimiter, type FailureLimiterOptions } from '../server/auth.js';
import { Dispatcher } from '../server/dispatcher.js';
import { InProcessNotifier } from '../server/notifier.js';
import { Scheduler } from '../server/scheduler.js';
import { SecretVault } from '../server/secret-vault.js';
import { AgentService } from '../server/services/agents.js';
import { PoolService } from '../server/services/pools.js';
import { TokenService } from '../server/services/tokens.js';
import { silentLogger } from '../shared/logger.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { AgentRow, TokenRow } from '../store/types.js';

/** A clock the test moves by hand; it starts at the wall clock, as signed assertions need. */
export interface FakeClock {
  now(): number;
  advance(ms: number): void;
}

export function fakeClock(start = Date.now()): FakeClock {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

export interface ServiceWorldOptions {
  limiter?: FailureLimiterOptions;
  /** Longest a poll waits. Default 50 ms, so a poll with nothing to offer ends soon. */
  pollTimeoutMs?: number;
}

/**
 * The coordinator's services on a real in-memory SQLite store, a real scheduler and dispatcher
 * and a fake clock, with no HTTP. `poolChanged` is watched, not replaced.
 */
export async function serviceWorld(o: ServiceWorldOptions = {}) {
  const store = new SqliteStore(':memory:');
  const clock = fakeClock();
  const logger = silentLogger;
  const auth = new Auth({ store, clock, logger });
  const limiter = new FailureLimiter(clock, o.limiter);
  const notifier = new InProcessNotifier();
  const dispatcher = new Dispatcher({ store, clock, logger });
  const scheduler = new Scheduler({
    store,
    clock,
    logger,
    auth,
    dispatcher,
    notifier,
    vault: new SecretVault(randomBytes(32)),
    leaseTtlMs: 60_000,
  });
  const poolChanged = vi.spyOn(scheduler, 'poolChanged');
  const pollTimeoutMs = o.pollTimeoutMs ?? 50;
  await store.ensurePool('default', { allowDockerSocket: false }, clock.now());
  const agents = new AgentService({
    store,
    clock,
    logger,
    auth,
    limiter,
    scheduler,
    dispatcher,
    pollTimeoutMs,
  });
  const pools = new PoolService({ store, clock, logger, auth, scheduler, dispatcher, notifier });
  const tokens = new TokenService({ store, clock, logger, auth });

  /** The stored credential row of a bearer token just issued. */
  const credential = async (token: string): Promise<TokenRow> =>
    auth.authenticate(`Bearer ${token}`, ['adm', 'pat', 'jit', 'agt']);

  const world = {
    store,
    clock,
    auth,
    limiter,
    notifier,
    dispatcher,
    scheduler,
    poolChanged,
    agents,
    pools,
    tokens,
    credential,
    /** A personal access token that may register agents, as its credential row. */
    async registrar(): Promise<TokenRow> {
      const { token } = await tokens.create({ name: 'reg', scopes: ['agent:register'], expiresInDays: 1 });
      return credential(token);
    },
    /** Registers an agent with a PAT and opens its session, as the real agent does at start. */
    async agent(name: string, o2: { pool?: string; capabilities?: Record<string, string> } = {}) {
      const identity = new AgentIdentity();
      const reg = await agents.register(await world.registrar(), {
        pool: o2.pool ?? 'default',
        name,
        publicKey: identity.publicKeyPem,
        replace: false,
      });
      const row = await agents.agentFor({ agentId: reg.agentId } as TokenRow);
      const { sessionId } = await agents.openSession(row, {
        capabilities: o2.capabilities ?? {},
        version: 'test',
      });
      return { identity, sessionId, row: await world.reload(reg.agentId) };
    },
    /** The agent as the store has it now (sessions and claims change it). */
    async reload(agentId: string): Promise<AgentRow> {
      return (await store.getAgent(agentId))!;
    },
    /** Queues a run of the pipeline `yaml`; answers its jobs' ids in order. */
    async queue(yaml: string): Promise<string[]> {
      const run = await scheduler.createRun(
        createRunRequest.parse({ pipeline: { file: 'p.yml', content: yaml } }),
      );
      return (await store.listJobs(run.id)).map((j) => j.id);
    },
    stop() {
      scheduler.stop();
      dispatcher.stop();
    },
  };
  return world;
}

export type ServiceWorld = Awaited<ReturnType<typeof serviceWorld>>;
