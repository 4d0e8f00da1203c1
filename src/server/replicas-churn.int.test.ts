import { expect, it } from 'vitest';
import { ApiClient } from '../protocol/client.js';
import type { RunView } from '../protocol/schemas.js';
import {
  allCompleted,
  ChurnAgents,
  churnSize,
  expectChurnSurvived,
  expectGaugesAtRest,
  healthProber,
  queueChurnRuns,
} from '../test-support/churn.js';
import { killAll } from '../test-support/harness.js';
import { type Replica, startReplicaSet } from '../test-support/replicas.js';
import { seededRandom } from '../test-support/seeded-random.js';

// Churn on two replicas sharing one PostgreSQL: real agents behind the round-robin proxy are
// killed at random, and a replica is killed (`kill -9`) and started again, more than once,
// while a few hundred jobs run. Sized for CI on 2 cores; a soak:
//   SLIPWAY_CHURN_JOBS=3000 SLIPWAY_CHURN_AGENTS=12 SLIPWAY_CHURN_DEADLINE_MS=1200000 npx vitest run replicas-churn
const {
  jobs: JOBS,
  agents: AGENTS,
  seed: SEED,
  deadlineMs: DEADLINE_MS,
} = churnSize({
  jobs: 400,
  agents: 8,
  seed: 11,
  deadlineMs: 180_000,
});
/** Steps of the chaos loop at which a replica is killed (in turn a, b, a, …), besides agents. */
const REPLICA_KILLS = new Set([2, 5, 8, 12, 16, 21]);

it(`replica churn: ${JOBS} jobs on ${AGENTS} agents while agents and replicas are killed`, {
  timeout: DEADLINE_MS + 180_000,
}, async () => {
  const random = seededRandom(SEED);
  // Agents moving to the other replica after a kill -9 must renew in time on a busy machine.
  const set = await startReplicaSet({ name: 'slipway-replica-churn', leaseTtl: 6 });
  const down = new Set<Replica>();
  try {
    const [a, b] = set.replicas as [Replica, Replica];
    const admin = set.admin;
    const viaProxy = new ApiClient(set.viaProxy);
    const agents = await ChurnAgents.start(viaProxy, admin, {
      url: set.viaProxy,
      count: AGENTS,
      dir: set.dir,
    });
    // Queued through both replicas in turn (the proxy alternates).
    const runIds = await queueChurnRuns(viaProxy, admin, 'churn', JOBS);

    // Each replica must answer whenever it is up: the survivor throughout the other's death.
    const probers = set.replicas.map((r) => healthProber(new ApiClient(r.url), () => !down.has(r)));
    const deadline = Date.now() + DEADLINE_MS;
    let replicaKills = 0;
    let agentKills = 0;
    let finished: RunView[] | undefined;
    for (let step = 0; !finished && Date.now() < deadline; step++) {
      await new Promise((r) => setTimeout(r, 500 + random() * 1_500));
      if (REPLICA_KILLS.has(step)) {
        const victim = replicaKills % 2 === 0 ? a : b;
        down.add(victim);
        await set.kill(victim);
        await new Promise((r) => setTimeout(r, 500 + random() * 1_500));
        await set.start(victim);
        down.delete(victim);
        replicaKills++;
      } else {
        await agents.killOne(random);
        agentKills++;
      }
      finished = await allCompleted(viaProxy, admin, runIds);
    }
    while (!finished && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      finished = await allCompleted(viaProxy, admin, runIds);
    }
    const unanswered = probers.map((p) => p.stop());
    expect(finished, 'every run completed before the deadline').toBeDefined();
    // Read through the replica killed last, which came back: it serves the same state.
    const failed = await expectChurnSurvived(new ApiClient(a.url), admin, runIds, finished!);
    expect(unanswered).toEqual([[], []]);
    expect(replicaKills, 'the run outlived at least two replica kills').toBeGreaterThanOrEqual(2);

    await agents.stop();
    for (const r of set.replicas) await expectGaugesAtRest(new ApiClient(r.url));
    console.log(
      `replica churn: ${JOBS} jobs, ${agentKills} agent kills, ${replicaKills} replica kills, ${failed} failed after retries, connections per replica ${set.proxy.served}`,
    );
  } finally {
    await killAll();
    await set.stop();
  }
});
