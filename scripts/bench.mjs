// `npm run bench`: starts a server and a Docker fleet from the built `dist/`, and measures, in
// one run on this machine: warm start (job queued → first step running, on an idle agent),
// cold start in a custom image, a bare `docker run --rm IMG true` of that image, `slipway run`
// end to end on the warm fleet, and trivial jobs per minute. Prints a table and writes
// `.bench/results.json`. Everything it starts is labelled and removed, also on failure or Ctrl-C.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (path) => join(root, 'dist', path);
const bundlePath = dist('agent/slipway-agent.mjs');
if (!existsSync(dist('cli/main.js')) || !existsSync(bundlePath)) {
  console.error('bench: no build found; run `npm run build` first');
  process.exit(2);
}

const { startServer } = await import(dist('server/index.js'));
const { DockerDriver, FleetManager } = await import(dist('fleet/index.js'));
const { finishRun, queueRun, removeLabelled, waitFor } = await import(dist('fleet/fleet-test-support.js'));
const { buildImages } = await import(dist('images/index.js'));
const { importRootfs } = await import(dist('images/docker-import.js'));
const { findStaticBusybox } = await import(dist('images/host.js'));
const { RootfsPlan } = await import(dist('images/rootfs.js'));
const { ApiClient } = await import(dist('protocol/client.js'));
const { silentLogger } = await import(dist('shared/logger.js'));

const WARM_JOBS = Number(process.env.BENCH_WARM_JOBS ?? 20);
const COLD_JOBS = Number(process.env.BENCH_COLD_JOBS ?? 10);
const BARE_RUNS = Number(process.env.BENCH_BARE_RUNS ?? 10);
const CLI_RUNS = Number(process.env.BENCH_CLI_RUNS ?? 5);
const THROUGHPUT_JOBS = Number(process.env.BENCH_THROUGHPUT_JOBS ?? 40);
const MAX = Number(process.env.BENCH_MAX ?? 4);

const benchId = randomBytes(5).toString('hex');
const label = `slipway.bench=${benchId}`;
const docker = new Docker();
const image = `slipway-bench/busybox:${benchId}`;
let dir;
let server;
let fleet;

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const stats = (values) => ({
  n: values.length,
  p50: percentile(values, 50),
  p95: percentile(values, 95),
  min: Math.min(...values),
  max: Math.max(...values),
});

/** ms from the job's `queued` event to its first step's `running` event (server timestamps). */
function queuedToFirstStep(events) {
  const queued = events.find((e) => e.kind === 'job' && e.data.status === 'queued');
  const step = events.find((e) => e.kind === 'step' && e.data.status === 'running');
  return Date.parse(step.at) - Date.parse(queued.at);
}

function timed(command, args, env = process.env) {
  return new Promise((resolveRun, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${output}`));
      else resolveRun(performance.now() - started);
    });
  });
}

async function cleanup() {
  await fleet?.stop().catch(() => undefined);
  await server?.stop().catch(() => undefined);
  await removeLabelled(docker, label).catch(() => undefined);
  await docker
    .getImage(image)
    .remove({ force: true })
    .catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
}

let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  console.error('bench: interrupted; cleaning up');
  void cleanup().then(() => process.exit(1));
});

try {
  await docker.ping().catch(() => {
    execFileSync('bash', [join(root, 'scripts/ensure-docker.sh')], { stdio: 'inherit' });
  });
  await buildImages({ docker, agentBundlePath: bundlePath });

  // The custom image: static busybox with `true` and `sh` (no libc), not the fleet's default.
  const plan = new RootfsPlan({ usrMerge: false });
  await plan.file('/bin/busybox', await findStaticBusybox(), { mode: 0o755 });
  for (const applet of ['sh', 'true', 'echo']) plan.symlink(`/bin/${applet}`, 'busybox');
  await importRootfs(docker, plan.tar(), {
    repo: 'slipway-bench/busybox',
    tag: benchId,
    config: { cmd: ['/bin/sh'], env: { PATH: '/bin' }, labels: { 'slipway.bench': benchId } },
  });

  dir = await mkdtemp(join(tmpdir(), 'slw-bench-'));
  const socketPath = join(dir, 'agent.sock');
  server = await startServer({
    config: { host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), socketPath, logLevel: 'silent' },
    logger: silentLogger,
  });
  const token = (await readFile(server.adminTokenFile, 'utf8')).trim();
  const client = new ApiClient(server.url);
  fleet = new FleetManager({
    client,
    adminToken: token,
    driver: new DockerDriver({ docker, serverSocket: socketPath, labels: { 'slipway.bench': benchId } }),
    fleetId: `bench-${benchId}`,
    minIdle: 1,
    max: MAX,
  });
  await fleet.start();
  const demand = async () => (await client.request('pools/default/demand?waitMs=0', { token })).body;
  const idleAgent = () =>
    waitFor(async () => (await demand()).agents.some((a) => a.polling && !a.busy), 'an idle agent', 60_000);
  const trivial = "steps:\n- script: 'true'\n";

  // Bare container start of the custom image, in this same run, as the baseline.
  await timed('docker', ['run', '--rm', '--label', label, image, 'true']);
  const bare = [];
  for (let i = 0; i < BARE_RUNS; i++)
    bare.push(await timed('docker', ['run', '--rm', '--label', label, image, 'true']));

  const warm = [];
  for (let i = 0; i < WARM_JOBS && !interrupted; i++) {
    await idleAgent();
    const { events, run } = await finishRun(client, token, (await queueRun(client, token, trivial)).id);
    if (run.result !== 'succeeded') throw new Error(`warm job ${i} ${run.result}`);
    warm.push(queuedToFirstStep(events));
  }

  const cold = [];
  const coldYaml = `jobs:\n- job: cold\n  container: ${image}\n  steps:\n  - script: echo cold\n`;
  for (let i = 0; i < COLD_JOBS && !interrupted; i++) {
    const { events, run } = await finishRun(client, token, (await queueRun(client, token, coldYaml)).id);
    if (run.result !== 'succeeded') throw new Error(`cold job ${i} ${run.result}`);
    cold.push(queuedToFirstStep(events));
  }

  // `slipway run` as a user types it, on the warm fleet: upload, queue, stream, exit.
  const ws = join(dir, 'ws');
  await mkdir(ws);
  await writeFile(join(ws, 'azure-pipelines.yml'), trivial);
  const cliEnv = { ...process.env, SLIPWAY_URL: server.url, SLIPWAY_TOKEN: token, NO_COLOR: '1' };
  const cli = [];
  for (let i = 0; i < CLI_RUNS && !interrupted; i++) {
    await idleAgent();
    cli.push(await timed(process.execPath, [dist('cli/main.js'), 'run', '--dir', ws], cliEnv));
  }

  await idleAgent();
  const burstStart = performance.now();
  const runs = await Promise.all(
    Array.from({ length: THROUGHPUT_JOBS }, () => queueRun(client, token, trivial)),
  );
  const finished = await Promise.all(runs.map((r) => finishRun(client, token, r.id, 300_000)));
  const burstMs = performance.now() - burstStart;
  const failed = finished.filter((f) => f.run.result !== 'succeeded').length;
  if (failed > 0) throw new Error(`${failed} of the throughput jobs did not succeed`);

  const round = (n) => Math.round(n);
  const results = {
    at: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    fleet: { minIdle: 1, max: MAX },
    warmStartMs: stats(warm.map(round)),
    coldStartMs: stats(cold.map(round)),
    bareDockerRunMs: stats(bare.map(round)),
    coldToBareRatio: Number((percentile(cold, 50) / percentile(bare, 50)).toFixed(2)),
    slipwayRunMs: stats(cli.map(round)),
    slipwayRunToBareRatio: Number((percentile(cli, 50) / percentile(bare, 50)).toFixed(2)),
    throughput: {
      jobs: THROUGHPUT_JOBS,
      seconds: Number((burstMs / 1000).toFixed(1)),
      jobsPerMinute: round((THROUGHPUT_JOBS / burstMs) * 60_000),
    },
  };

  const rows = [
    ['warm start (queued → first step)', results.warmStartMs, '≤ 75 ms p50'],
    ['cold start, custom image', results.coldStartMs, `≤ 1.6 × bare (${results.coldToBareRatio}×)`],
    ['bare docker run --rm IMG true', results.bareDockerRunMs, ''],
    [
      'slipway run end to end (warm)',
      results.slipwayRunMs,
      `≤ 1.5 × bare (${results.slipwayRunToBareRatio}×)`,
    ],
  ];
  console.log(`\n${'measure'.padEnd(36)}${'n'.padStart(4)}${'p50'.padStart(8)}${'p95'.padStart(8)}  target`);
  for (const [name, s, target] of rows) {
    console.log(
      `${name.padEnd(36)}${String(s.n).padStart(4)}${`${s.p50}ms`.padStart(8)}${`${s.p95}ms`.padStart(8)}  ${target}`,
    );
  }
  console.log(
    `${'trivial jobs per minute'.padEnd(36)}${String(THROUGHPUT_JOBS).padStart(4)}${String(results.throughput.jobsPerMinute).padStart(8)}${''.padStart(8)}  ≥ 60 (max ${MAX} agents, ${results.throughput.seconds}s)`,
  );
  await mkdir(join(root, '.bench'), { recursive: true });
  await writeFile(join(root, '.bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log('\nwrote .bench/results.json');
} catch (error) {
  console.error(`bench: ${error?.stack ?? error}`);
  process.exitCode = 3;
} finally {
  if (!interrupted) await cleanup();
}
