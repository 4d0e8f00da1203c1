// Sizing for replicas: dispatch rate to simulated agents on PostgreSQL with one and with two
// `slipway server` processes (agents spread over them), and what one replica spends on idle
// long polls (memory and CPU at N idle pollers). Needs the test PostgreSQL
// (scripts/ensure-postgres.sh; SLIPWAY_TEST_POSTGRES points elsewhere). Opt-in, after `npm run build`:
//   node scripts/bench-replicas.mjs [--jobs 500] [--agents 20] [--idle 500]   (about 90 s: not in `npm run bench`)
// Writes its key (`replicas`) into .bench/results.json, keeping the other scripts' keys.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { AgentIdentity } from '../dist/agent/identity.js';
import { ApiClient } from '../dist/protocol/client.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const POSTGRES = process.env.SLIPWAY_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:54329/postgres';
const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '500' },
    agents: { type: 'string', default: '20' },
    idle: { type: 'string', default: '500' },
  },
});
const JOBS = Number(values.jobs);
const AGENTS = Number(values.agents);
const IDLE = Number(values.idle);
const secretKey = randomBytes(32).toString('hex');

async function admin(sql) {
  const c = new pg.Client({ connectionString: POSTGRES });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** A fresh database and `count` replicas on it, each its own process and data directory. */
async function cluster(count, dir) {
  const name = `slipway_bench_${randomBytes(4).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES);
  url.pathname = `/${name}`;
  const replicas = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        CLI,
        'server',
        '--port',
        String(port),
        '--data',
        join(dir, name, `r${i}`),
        '--database',
        url.toString(),
        '--blobs',
        `file:${join(dir, name, 'blobs')}`,
        '--log-level',
        'warn',
      ],
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, SLIPWAY_SECRET_KEY: secretKey },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    await new Promise((resolve, reject) => {
      const onData = (d) => {
        out += d;
        if (/listening on/.test(out)) resolve();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', () => reject(new Error(`replica exited: ${out}`)));
    });
    replicas.push({ child, url: `http://127.0.0.1:${port}`, dataDir: join(dir, name, `r${i}`) });
  }
  const token = (await readFile(join(replicas[0].dataDir, 'admin.token'), 'utf8')).trim();
  return {
    replicas,
    token,
    async stop() {
      for (const r of replicas) r.child.kill('SIGKILL');
      await Promise.all(
        replicas.map(
          (r) => new Promise((ok) => (r.child.exitCode !== null ? ok() : r.child.once('exit', ok))),
        ),
      );
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

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
  return { client, access, sessionId };
}

/** Simulated agents spread over the replicas in turn; `idleOnly` ones never claim. */
async function simulate(c, pool, count, prefix, idleOnly, counter) {
  const pat = (
    await new ApiClient(c.replicas[0].url).request('tokens', {
      token: c.token,
      body: { scopes: ['agent:register'] },
    })
  ).body.token;
  const agents = [];
  for (let i = 0; i < count; i += 50) {
    agents.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(50, count - i) }, (_, k) => {
          const client = new ApiClient(c.replicas[(i + k) % c.replicas.length].url);
          return register(client, pat, `${prefix}-${i + k}`, pool);
        }),
      )),
    );
  }
  let stopped = false;
  const loops = agents.map(async (a) => {
    while (!stopped) {
      const res = await a.client
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
        await a.client.request(`jobs/${spec.jobId}/complete`, {
          token: spec.leaseToken,
          body: { epoch: spec.epoch, result: 'succeeded' },
        });
        counter.done++;
      } catch {
        // another agent won the claim
      }
    }
  });
  return () => {
    stopped = true;
    return loops;
  };
}

async function dispatchRate(count, dir) {
  const c = await cluster(count, dir);
  try {
    const counter = { done: 0 };
    const stop = await simulate(c, 'default', AGENTS, 'sim', false, counter);
    const jobsPerRun = 100;
    const content = `jobs:\n${Array.from({ length: jobsPerRun }, (_, i) => `- job: j${i}\n  steps:\n  - script: echo\n`).join('')}`;
    const t0 = performance.now();
    for (let r = 0; r < JOBS / jobsPerRun; r++) {
      // Runs are queued through each replica in turn, as clients behind a Service would.
      await new ApiClient(c.replicas[r % count].url).request('runs', {
        token: c.token,
        body: { pipeline: { file: 'bench.yml', content } },
      });
    }
    while (counter.done < JOBS) await new Promise((r) => setTimeout(r, 10));
    const seconds = (performance.now() - t0) / 1000;
    stop();
    return JOBS / seconds;
  } finally {
    await c.stop();
  }
}

/** Resident memory (MiB) and CPU seconds used so far by a process, from /proc. */
async function usage(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return { rss, cpu: (Number(stat[11]) + Number(stat[12])) / 100 };
}

async function idleCost(dir) {
  const c = await cluster(1, dir);
  try {
    const pid = c.replicas[0].child.pid;
    await new ApiClient(c.replicas[0].url).request('pools', { token: c.token, body: { name: 'idle' } });
    await new Promise((r) => setTimeout(r, 2_000));
    const quiet0 = await usage(pid);
    await new Promise((r) => setTimeout(r, 5_000));
    const quiet1 = await usage(pid);
    const stop = await simulate(c, 'idle', IDLE, 'idle', true, { done: 0 });
    await new Promise((r) => setTimeout(r, 3_000));
    const busy0 = await usage(pid);
    await new Promise((r) => setTimeout(r, 10_000));
    const busy1 = await usage(pid);
    const client = new ApiClient(c.replicas[0].url);
    const latencies = [];
    for (let i = 0; i < 50; i++) {
      const s = performance.now();
      await client.request('/healthz');
      latencies.push(performance.now() - s);
    }
    latencies.sort((a, b) => a - b);
    stop();
    return {
      rssIdleMiB: quiet1.rss,
      rssPollersMiB: busy1.rss,
      cpuIdlePct: ((quiet1.cpu - quiet0.cpu) / 5) * 100,
      cpuPollersPct: ((busy1.cpu - busy0.cpu) / 10) * 100,
      healthzP50Ms: latencies[25],
    };
  } finally {
    await c.stop();
  }
}

const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-replicas-'));
try {
  const one = await dispatchRate(1, dir);
  const two = await dispatchRate(2, dir);
  const idle = await idleCost(dir);
  console.log(
    `dispatch on PostgreSQL: 1 replica ${one.toFixed(0)} jobs/s, 2 replicas ${two.toFixed(0)} jobs/s (${JOBS} jobs, ${AGENTS} simulated agents, includes queueing)`,
  );
  console.log(
    `idle: ${IDLE} long polls on one replica: RSS ${idle.rssIdleMiB.toFixed(0)} → ${idle.rssPollersMiB.toFixed(0)} MiB, CPU ${idle.cpuIdlePct.toFixed(1)} → ${idle.cpuPollersPct.toFixed(1)} % of a core, /healthz p50 ${idle.healthzP50Ms.toFixed(1)} ms`,
  );
  const file = join(ROOT, '.bench', 'results.json');
  await mkdir(join(ROOT, '.bench'), { recursive: true });
  const results = JSON.parse(await readFile(file, 'utf8').catch(() => '{}'));
  results.replicas = {
    dispatchJobsPerSecond: {
      oneReplica: Math.round(one),
      twoReplicas: Math.round(two),
      jobs: JOBS,
      agents: AGENTS,
    },
    idlePolls: {
      pollers: IDLE,
      rssMiB: Math.round(idle.rssPollersMiB),
      rssWithoutMiB: Math.round(idle.rssIdleMiB),
      cpuPercentOfCore: Number(idle.cpuPollersPct.toFixed(1)),
      healthzP50Ms: Number(idle.healthzP50Ms.toFixed(1)),
    },
  };
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
process.exit(0);
