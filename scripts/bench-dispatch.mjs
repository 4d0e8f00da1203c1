// Coordinator throughput with simulated agents (no processes, no containers): how many jobs per
// second it dispatches on SQLite, and whether it stays responsive with 1,000 idle long polls.
// Run after `npm run build`: node scripts/bench-dispatch.mjs [--jobs 3000] [--agents 50] [--idle 1000]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AgentIdentity } from '../dist/agent/identity.js';
import { ApiClient } from '../dist/protocol/client.js';
import { startServer } from '../dist/server/server.js';
import { silentLogger } from '../dist/shared/logger.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '3000' },
    agents: { type: 'string', default: '50' },
    idle: { type: 'string', default: '1000' },
  },
});
const JOBS = Number(values.jobs);
const AGENTS = Number(values.agents);
const IDLE = Number(values.idle);

const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-'));
const server = await startServer({
  config: { port: 0, dataDir: dir, logLevel: 'silent', pollTimeoutSeconds: 20 },
  logger: silentLogger,
});
const client = new ApiClient(server.url);
const admin = (await readFile(server.adminTokenFile, 'utf8')).trim();
const pat = (await client.request('tokens', { token: admin, body: { scopes: ['agent:register'] } })).body
  .token;

async function agent(name, pool = 'default') {
  const identity = new AgentIdentity();
  const { agentId } = (
    await client.request('agents/register', {
      token: pat,
      body: { pool, name, publicKey: identity.publicKeyPem },
    })
  ).body;
  const access = (
    await client.request('agents/token', { body: { assertion: await identity.assertion(agentId) } })
  ).body.accessToken;
  const { sessionId } = (
    await client.request('agents/session', { token: access, body: { capabilities: {}, version: 'bench' } })
  ).body;
  return { access, sessionId };
}

// 1. Dispatch throughput: simulated agents poll, claim and complete as fast as the server lets them.
const agents = await Promise.all(Array.from({ length: AGENTS }, (_, i) => agent(`sim-${i}`)));
let done = 0;
let stop = false;
async function work(a) {
  while (!stop) {
    const res = await client.request('agents/poll', {
      token: a.access,
      body: { sessionId: a.sessionId },
      timeoutMs: 30_000,
    });
    if (res.status === 204) continue;
    try {
      const spec = (
        await client.request(`jobs/${res.body.jobId}/claim`, {
          token: a.access,
          body: { sessionId: a.sessionId },
        })
      ).body;
      await client.request(`jobs/${spec.jobId}/complete`, {
        token: spec.leaseToken,
        body: { epoch: spec.epoch, result: 'succeeded' },
      });
      done++;
    } catch {
      // Another simulated agent won the claim.
    }
  }
}
const jobsPerRun = 100;
const content = `jobs:\n${Array.from({ length: jobsPerRun }, (_, i) => `- job: j${i}\n  steps:\n  - script: echo\n`).join('')}`;
const workers = agents.map(work);
const t0 = performance.now();
for (let r = 0; r < JOBS / jobsPerRun; r++) {
  await client.request('runs', { token: admin, body: { pipeline: { file: 'bench.yml', content } } });
}
while (done < JOBS) await new Promise((r) => setTimeout(r, 20));
const seconds = (performance.now() - t0) / 1000;
stop = true;
server.context.dispatcher.stop();

// 2. 1,000 idle agents in long polls; the server must keep answering promptly.
await client.request('pools', { token: admin, body: { name: 'idle' } });
const idle = [];
for (let i = 0; i < IDLE; i += 100)
  idle.push(
    ...(await Promise.all(
      Array.from({ length: Math.min(100, IDLE - i) }, (_, k) => agent(`idle-${i + k}`, 'idle')),
    )),
  );
const polls = idle.map((a) =>
  client
    .request('agents/poll', { token: a.access, body: { sessionId: a.sessionId }, timeoutMs: 60_000 })
    .catch(() => undefined),
);
await new Promise((r) => setTimeout(r, 1_000));
const latencies = [];
for (let i = 0; i < 50; i++) {
  const s = performance.now();
  await client.request('/healthz');
  latencies.push(performance.now() - s);
}
latencies.sort((a, b) => a - b);
const waiting = server.context.dispatcher.waitingTotal();

console.log(
  `dispatch: ${JOBS} jobs by ${AGENTS} simulated agents in ${seconds.toFixed(1)} s = ${(JOBS / seconds).toFixed(0)} jobs/s (SQLite)`,
);
console.log(
  `idle polls: ${waiting} waiting; /healthz p50 ${latencies[25].toFixed(1)} ms, p95 ${latencies[47].toFixed(1)} ms`,
);
await server.stop();
await Promise.all([...workers, ...polls].map((p) => p.catch(() => undefined)));
await rm(dir, { recursive: true, force: true });
