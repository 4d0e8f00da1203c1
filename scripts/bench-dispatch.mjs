// Coordinator throughput with simulated agents (no steps, no containers): how many jobs per
// second it dispatches on SQLite, and whether it stays responsive with 1,000 idle long polls.
// The simulated agents run in a child process so they do not share the server's core.
// Run after `npm run build`: node scripts/bench-dispatch.mjs [--jobs 3000] [--agents 50] [--idle 1000]
// BENCH_SKIP_DISPATCH=1 skips it all, BENCH_SKIP_IDLE=1 the idle long polls.
import { fork } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AgentIdentity } from '../dist/agent/identity.js';
import { ApiClient } from '../dist/protocol/client.js';
import { countStatements, printFigure, saveResults, skipped } from './bench-results.mjs';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '3000' },
    agents: { type: 'string', default: '50' },
    idle: { type: 'string', default: '1000' },
    'simulate-agents': { type: 'string' },
  },
});

async function register(client, pat, name, pool) {
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

if (values['simulate-agents']) {
  // Child: agents that poll, claim and complete as fast as the server lets them.
  const { url, pat, agents, prefix, pool, idleOnly } = JSON.parse(values['simulate-agents']);
  const client = new ApiClient(url);
  const list = [];
  for (let i = 0; i < agents; i += 50) {
    list.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(50, agents - i) }, (_, k) =>
          register(client, pat, `${prefix}-${i + k}`, pool),
        ),
      )),
    );
  }
  process.send({ ready: true });
  let done = 0;
  const work = async (a) => {
    for (;;) {
      const res = await client
        .request('agents/poll', {
          token: a.access,
          // As the real agent does: the poll claims the job it finds and answers with its spec.
          body: { sessionId: a.sessionId, claim: !idleOnly },
          timeoutMs: 60_000,
        })
        .catch(() => ({ status: 0 }));
      if (res.status !== 200 || idleOnly) continue;
      try {
        const spec = res.body.spec;
        await client.request(`jobs/${spec.jobId}/complete`, {
          token: spec.leaseToken,
          body: { epoch: spec.epoch, result: 'succeeded' },
        });
        if (++done % 100 === 0) process.send({ done });
      } catch {
        // another simulated agent won the claim
      }
    }
  };
  list.forEach(work);
} else {
  if (skipped('DISPATCH')) process.exit(0);
  const counts = await countStatements();
  const { startServer } = await import('../dist/server/server.js');
  const { silentLogger } = await import('../dist/shared/logger.js');
  const JOBS = Number(values.jobs);
  const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-'));
  const server = await startServer({
    config: { port: 0, dataDir: dir, logLevel: 'silent', pollTimeoutSeconds: 20 },
    logger: silentLogger,
  });
  const client = new ApiClient(server.url);
  const admin = (await readFile(server.adminTokenFile, 'utf8')).trim();
  const pat = (await client.request('tokens', { token: admin, body: { scopes: ['agent:register'] } })).body
    .token;
  const simulate = (options) =>
    new Promise((resolve) => {
      const child = fork(new URL(import.meta.url).pathname, [
        '--simulate-agents',
        JSON.stringify({ url: server.url, pat, ...options }),
      ]);
      child.on('message', (m) => {
        if (m.ready) resolve(child);
        if (m.done) child.done = m.done;
      });
    });

  // 1. Dispatch throughput.
  const workers = await simulate({ agents: Number(values.agents), prefix: 'sim', pool: 'default' });
  const jobsPerRun = 100;
  const content = `jobs:\n${Array.from({ length: jobsPerRun }, (_, i) => `- job: j${i}\n  steps:\n  - script: echo\n`).join('')}`;
  const before = { ...counts };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let r = 0; r < JOBS / jobsPerRun; r++)
    await client.request('runs', { token: admin, body: { pipeline: { file: 'bench.yml', content } } });
  // Bounded: a regression that stalls dispatch ends the case instead of hanging the bench.
  const deadline = t0 + 120_000;
  while ((workers.done ?? 0) < JOBS && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 10));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const dispatched = workers.done ?? 0;
  const perJob = (k) => (counts[k] - before[k]) / dispatched;
  workers.kill();
  const dispatch = {
    jobs: dispatched,
    agents: Number(values.agents),
    seconds: Number(seconds.toFixed(2)),
    jobsPerSecond: Math.round(dispatched / seconds),
    // The server's own CPU per job: what the rate would be if it had a core to itself.
    serverCpuMsPerJob: Number(((cpu.user + cpu.system) / 1000 / dispatched).toFixed(3)),
    statementsPerJob: Number(perJob('statements').toFixed(1)),
    commitsPerJob: Number(perJob('commits').toFixed(1)),
  };

  // 2. Idle agents in long polls; the server must keep answering promptly.
  let idleResult;
  if (!skipped('IDLE')) {
    await client.request('pools', { token: admin, body: { name: 'idle' } });
    const idle = await simulate({
      agents: Number(values.idle),
      prefix: 'idle',
      pool: 'idle',
      idleOnly: true,
    });
    await new Promise((r) => setTimeout(r, 2_000));
    const latencies = [];
    for (let i = 0; i < 100; i++) {
      const s = performance.now();
      await client.request('/healthz');
      latencies.push(performance.now() - s);
    }
    latencies.sort((a, b) => a - b);
    idleResult = {
      agents: server.context.dispatcher.waitingTotal(),
      healthzP50Ms: Number(latencies[50].toFixed(1)),
      healthzP95Ms: Number(latencies[95].toFixed(1)),
    };
    idle.kill();
  }

  printFigure(
    `dispatch, SQLite (${dispatched} jobs, ${values.agents} simulated agents)`,
    `${dispatch.jobsPerSecond} jobs/s`,
    '≥ 1,000 jobs/s',
    dispatch.jobsPerSecond >= 1000,
  );
  printFigure(
    '  server CPU per job',
    `${dispatch.serverCpuMsPerJob} ms`,
    '≤ 1 ms (1,000 jobs/s on one core)',
  );
  printFigure(
    '  SQL statements per job',
    dispatch.statementsPerJob,
    `(${dispatch.commitsPerJob} commits per job)`,
  );
  if (idleResult) {
    printFigure(
      `idle: ${idleResult.agents} agents in long polls, /healthz p50`,
      `${idleResult.healthzP50Ms} ms`,
      `prompt (p95 ${idleResult.healthzP95Ms} ms)`,
    );
  }
  for (const [text, e] of [...counts.bySql].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20)) {
    console.log(
      `${e.ms.toFixed(0).padStart(7)} ms ${String(e.n).padStart(7)}× ${text.replace(/\s+/g, ' ').slice(-90)}`,
    );
  }
  await saveResults({ dispatch, ...(idleResult ? { idlePolls: idleResult } : {}) });
  await server.stop();
  await rm(dir, { recursive: true, force: true });
  process.exit(0);
}
