import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ApiClient } from '../protocol/client.js';
import type { RunView } from '../protocol/schemas.js';
import {
  allCompleted,
  churnSize,
  expectChurnSurvived,
  expectGaugesAtRest,
  healthProber,
  queueChurnRuns,
} from '../test-support/churn.js';
import { freePort, killAll, type Proc, spawnAgentAt, spawnServer } from '../test-support/harness.js';
import { seededRandom } from '../test-support/seeded-random.js';

// Sized for CI on 2 cores; raise them for a soak: SLIPWAY_CHURN_JOBS=5000 SLIPWAY_CHURN_AGENTS=16 npx vitest run churn
const {
  jobs: JOBS,
  agents: AGENTS,
  seed: SEED,
  deadlineMs: DEADLINE_MS,
} = churnSize({
  jobs: 500,
  agents: 8,
  seed: 7,
  deadlineMs: 240_000,
});

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
    const runIds = await queueChurnRuns(client, admin, 'churn', JOBS);

    // The server must answer whenever it is up.
    const prober = healthProber(client, () => !serverDown);
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
      finished = await allCompleted(client, admin, runIds);
    }
    while (!finished && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      finished = await allCompleted(client, admin, runIds);
    }
    const unansweredWhileUp = prober.stop();
    expect(finished, 'every run completed before the deadline').toBeDefined();
    const failed = await expectChurnSurvived(client, admin, runIds, finished!);
    expect(unansweredWhileUp).toEqual([]);

    for (const a of agents.values()) a.kill('SIGTERM');
    await Promise.all([...agents.values()].map((a) => a.exited));
    await expectGaugesAtRest(client);
    console.log(
      `churn: ${JOBS} jobs, ${kills} agent kills, ${restarts} coordinator restarts, ${failed} failed after retries`,
    );
  } finally {
    await killAll();
  }
});
