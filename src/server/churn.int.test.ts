import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { freePort, killAll, spawnServer } from '../test-support/harness.js';
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
  try {
    const admin = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    const client = new ApiClient(url);
    const agents = await ChurnAgents.start(client, admin, { url, count: AGENTS, dir });
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
        await agents.killOne(random);
        kills++;
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

    await agents.stop();
    await expectGaugesAtRest(client);
    console.log(
      `churn: ${JOBS} jobs, ${kills} agent kills, ${restarts} coordinator restarts, ${failed} failed after retries`,
    );
  } finally {
    await killAll();
  }
});
