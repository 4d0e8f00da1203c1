// The coordinator with a deep queue: 10,000 queued jobs across 50 pools, no agent yet. How long
// queueing them takes, how soon the first agent that arrives gets a job, and how long the
// questions asked of a full queue take: a fleet's demand query, the periodic queue pass, a
// metrics scrape. Statement counts beside the times do not depend on how busy the machine is.
// Run after `npm run build`: node scripts/bench-queue.mjs [--jobs 10000] [--pools 50]
// BENCH_SKIP_QUEUE=1 skips it.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AgentIdentity } from '../dist/agent/identity.js';
import { ApiClient } from '../dist/protocol/client.js';
import { countStatements, printFigure, saveResults, skipped } from './bench-results.mjs';

const { values } = parseArgs({
  options: { jobs: { type: 'string', default: '10000' }, pools: { type: 'string', default: '50' } },
});
if (skipped('QUEUE')) process.exit(0);
const JOBS = Number(values.jobs);
const POOLS = Number(values.pools);
const JOBS_PER_RUN = 100;

const counts = await countStatements();
const { startServer } = await import('../dist/server/server.js');
const { silentLogger } = await import('../dist/shared/logger.js');
const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-queue-'));
const server = await startServer({
  config: { port: 0, dataDir: dir, logLevel: 'silent', pollTimeoutSeconds: 20 },
  logger: silentLogger,
});
const client = new ApiClient(server.url);
const admin = (await readFile(server.adminTokenFile, 'utf8')).trim();

/** Times `fn` `n` times; the median in ms, and the statements one call ran. */
async function measure(n, fn) {
  const times = [];
  let statements = 0;
  for (let i = 0; i < n; i++) {
    const s0 = counts.statements;
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
    statements = counts.statements - s0;
  }
  times.sort((a, b) => a - b);
  return { p50Ms: Number(times[Math.floor(n / 2)].toFixed(1)), statements };
}

try {
  for (let p = 0; p < POOLS; p++) await client.request('pools', { token: admin, body: { name: `q${p}` } });
  // Each run spreads its jobs over every pool, as a matrix over platforms would.
  const runs = Math.ceil(JOBS / JOBS_PER_RUN);
  const s0 = counts.statements;
  const t0 = performance.now();
  for (let r = 0; r < runs; r++) {
    const jobs = Array.from(
      { length: JOBS_PER_RUN },
      (_, i) => `- job: j${i}\n  pool: q${(r * JOBS_PER_RUN + i) % POOLS}\n  steps:\n  - script: echo\n`,
    );
    await client.request('runs', {
      token: admin,
      body: { pipeline: { file: 'queue.yml', content: `jobs:\n${jobs.join('')}` } },
    });
  }
  const queueSeconds = (performance.now() - t0) / 1000;
  const queueStatements = (counts.statements - s0) / (runs * JOBS_PER_RUN);
  const queued = (await server.context.store.listJobsByStatus('queued')).length;

  // What a fleet manager asks of one pool, and of what the periodic pass and a scrape read.
  const demand = await measure(20, () => client.request('pools/q0/demand?waitMs=0', { token: admin }));
  const pass = await measure(5, () => server.context.scheduler.reconsiderQueue());
  const scrape = await measure(5, () => client.request('/metrics', { token: admin }));

  // The first agent to arrive in a pool with a deep queue: poll → offer → claim.
  const identity = new AgentIdentity();
  const pat = (await client.request('tokens', { token: admin, body: { scopes: ['agent:register'] } })).body
    .token;
  const { agentId } = (
    await client.request('agents/register', {
      token: pat,
      body: { pool: 'q0', name: 'first', publicKey: identity.publicKeyPem },
    })
  ).body;
  const access = (
    await client.request('agents/token', { body: { assertion: await identity.assertion(agentId) } })
  ).body.accessToken;
  const { sessionId } = (
    await client.request('agents/session', { token: access, body: { capabilities: {}, version: 'bench' } })
  ).body;
  const f0 = performance.now();
  const offer = await client.request('agents/poll', { token: access, body: { sessionId } });
  const offeredMs = performance.now() - f0;
  await client.request(`jobs/${offer.body.jobId}/claim`, { token: access, body: { sessionId } });
  const firstDispatchMs = performance.now() - f0;

  const results = {
    jobs: queued,
    pools: POOLS,
    queueSeconds: Number(queueSeconds.toFixed(2)),
    queueJobsPerSecond: Math.round(queued / queueSeconds),
    queueStatementsPerJob: Number(queueStatements.toFixed(1)),
    firstOfferMs: Number(offeredMs.toFixed(1)),
    firstDispatchMs: Number(firstDispatchMs.toFixed(1)),
    demandQueryMs: demand.p50Ms,
    demandQueryStatements: demand.statements,
    queuePassMs: pass.p50Ms,
    queuePassStatements: pass.statements,
    metricsScrapeMs: scrape.p50Ms,
  };
  printFigure(
    `queue: ${queued} jobs over ${POOLS} pools queued`,
    `${results.queueSeconds} s`,
    `fast (${results.queueJobsPerSecond} jobs/s, ${results.queueStatementsPerJob} statements per job)`,
  );
  printFigure(
    '  first dispatch (poll → offer → claim)',
    `${results.firstDispatchMs} ms`,
    '≤ 50 ms',
    firstDispatchMs <= 50,
  );
  printFigure(
    "  a fleet's demand query (one pool)",
    `${results.demandQueryMs} ms`,
    `≤ 50 ms (${results.demandQueryStatements} statements)`,
    results.demandQueryMs <= 50,
  );
  printFigure(
    '  periodic queue pass (all pools)',
    `${results.queuePassMs} ms`,
    `≤ 500 ms every 5 s (${results.queuePassStatements} statements)`,
    results.queuePassMs <= 500,
  );
  printFigure(
    '  /metrics scrape',
    `${results.metricsScrapeMs} ms`,
    '≤ 100 ms',
    results.metricsScrapeMs <= 100,
  );
  await saveResults({ queue: results });
} finally {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
process.exit(0);
