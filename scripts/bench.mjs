// `npm run bench`: starts a server and a Docker fleet from the built `dist/`, and measures, in
// one run on this machine: warm start (job queued → first step running, on an idle agent),
// cold start in a custom image (a fresh tag per job, so none finds a warm agent), the next job
// in a recently used custom image (warm), a bare `docker run --rm IMG true` of that image,
// the agent's own boot (process start → its first request) and the CLI's, `slipway run` end to
// end on the warm fleet, and trivial jobs per minute beside bare `docker run --rm` at the same
// concurrency. Prints each figure with its goal and sets its keys in `.bench/results.json`
// (other benchmarks set theirs). Each case is bounded by a count and skipped with
// BENCH_SKIP_<CASE>=1 (WARM, COLD, WARM_IMAGE, BOOT, CLI, THROUGHPUT). Everything it starts is
// labelled and removed, also on failure or Ctrl-C.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (path) => join(root, 'dist', path);
const bundlePath = dist('agent/slipway-agent.mjs');
/** The CLI as `bin/slipway` runs it (the bundle), without the shell wrapper's build check. */
const cliPath = dist('cli-bundle/main.js');
if (!existsSync(dist('cli/main.js')) || !existsSync(cliPath) || !existsSync(bundlePath)) {
  console.error('bench: no build found; run `npm run build` first');
  process.exit(2);
}

const { startServer } = await import(dist('server/index.js'));
const { DockerDriver, FleetManager } = await import(dist('fleet/index.js'));
const { finishRun, fleetWaits, queueRun, removeLabelled, waitFor } = await import(
  dist('fleet/fleet-test-support.js')
);
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
const WARM_IMAGE_JOBS = Number(process.env.BENCH_WARM_IMAGE_JOBS ?? 5);
const BOOT_RUNS = Number(process.env.BENCH_BOOT_RUNS ?? 10);
const MAX = Number(process.env.BENCH_MAX ?? 4);
const skip = (name) => ['1', 'true'].includes(String(process.env[`BENCH_SKIP_${name}`] ?? '').toLowerCase());

const benchId = randomBytes(5).toString('hex');
const label = `slipway.bench=${benchId}`;
const docker = new Docker();
const image = `slipway-bench/busybox:${benchId}`;
/** Extra tags of the custom image (one per cold job), removed at the end. */
const tags = [];
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

/**
 * The agent's own boot, outside any container: ms from spawning the bundle (with a ticket file,
 * as a fleet starts it) to its first request, answered 401 by a stand-in on a Unix socket.
 */
async function agentBoot(base, runs) {
  const socket = join(base, 'boot.sock');
  let onRequest;
  const stub = createServer((_req, res) => {
    onRequest?.();
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'unauthorized', message: 'benchmark' } }));
  });
  await new Promise((r) => stub.listen(socket, r));
  const times = [];
  try {
    for (let i = 0; i < runs && !interrupted; i++) {
      const ticket = join(base, `boot-ticket-${i}`);
      await writeFile(ticket, 'slw_jit_benchmark\n');
      const started = performance.now();
      const first = new Promise((r) => {
        onRequest = () => {
          onRequest = undefined;
          r(performance.now() - started);
        };
      });
      const args = ['agent', 'run', '--url', `unix://${socket}`, '--ticket-file', ticket];
      args.push('--pool', 'default', '--name', 'bench-boot', '--work', join(base, 'boot-work'));
      const child = spawn(process.execPath, [bundlePath, ...args], {
        stdio: 'ignore',
        env: { PATH: process.env.PATH },
      });
      times.push(await first);
      await new Promise((r) => child.once('close', r));
    }
  } finally {
    stub.close();
  }
  return times;
}

async function cleanup() {
  await fleet?.stop().catch(() => undefined);
  await server?.stop().catch(() => undefined);
  await removeLabelled(docker, label).catch(() => undefined);
  for (const ref of [...tags, image])
    await docker
      .getImage(ref)
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
    warmPerImage: 1,
  });
  await fleet.start();
  const { demand, idleAgent, settled } = fleetWaits(client, token, fleet);
  const trivial = "steps:\n- script: 'true'\n";
  const containerJob = (ref) => `jobs:\n- job: cold\n  container: ${ref}\n  steps:\n  - script: echo cold\n`;
  const runJob = async (yaml, what) => {
    const { events, run } = await finishRun(client, token, (await queueRun(client, token, yaml)).id);
    if (run.result !== 'succeeded') throw new Error(`${what} ${run.result}`);
    return queuedToFirstStep(events);
  };
  const round = (n) => Math.round(n);
  const results = {
    at: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    fleet: { minIdle: 1, max: MAX, warmPerImage: 1 },
  };

  // Bare container start of the custom image, in this same run, as the baseline of every ratio.
  await timed('docker', ['run', '--rm', '--label', label, image, 'true']);
  const bare = [];
  for (let i = 0; i < BARE_RUNS; i++)
    bare.push(await timed('docker', ['run', '--rm', '--label', label, image, 'true']));
  results.bareDockerRunMs = stats(bare.map(round));
  const bareP50 = percentile(bare, 50);
  const ratio = (values) => Number((percentile(values, 50) / bareP50).toFixed(2));

  if (!skip('WARM')) {
    const warm = [];
    for (let i = 0; i < WARM_JOBS && !interrupted; i++) {
      await idleAgent();
      warm.push(await runJob(trivial, `warm job ${i}`));
    }
    results.warmStartMs = stats(warm.map(round));
  }

  if (!skip('COLD')) {
    // A fresh tag per job: a recently used image would find a warm agent of its own. Each job
    // starts on a settled fleet: the warm agent the fleet starts for the previous job's tag
    // would otherwise boot beside it, and two containers starting on 2 cores take twice as long.
    const cold = [];
    for (let i = 0; i < COLD_JOBS && !interrupted; i++) {
      await settled();
      const tag = `cold-${benchId}-${i}`;
      await docker.getImage(image).tag({ repo: 'slipway-bench/busybox', tag });
      tags.push(`slipway-bench/busybox:${tag}`);
      cold.push(await runJob(containerJob(`slipway-bench/busybox:${tag}`), `cold job ${i}`));
    }
    results.coldStartMs = stats(cold.map(round));
    results.coldToBareRatio = ratio(cold);
  }

  if (!skip('WARM_IMAGE')) {
    // The next job in a recently used custom image: the fleet keeps a warm agent of it.
    await runJob(containerJob(image), 'first job in the custom image');
    const warmImage = [];
    for (let i = 0; i < WARM_IMAGE_JOBS && !interrupted; i++) {
      await waitFor(
        async () => {
          const [f] = await client.listFleets('default', { token });
          return f?.status?.warmImages?.some((w) => w.image === image && w.idle > 0);
        },
        'a warm agent of the custom image',
        60_000,
      );
      await waitFor(
        async () => {
          const names = new Set(
            fleet
              .units()
              .filter((u) => u.image === image && !u.jobId)
              .map((u) => u.name),
          );
          return (await demand()).agents.some((a) => names.has(a.name) && a.polling && !a.busy);
        },
        'its agent polling',
        60_000,
      );
      warmImage.push(await runJob(containerJob(image), `warm custom-image job ${i}`));
    }
    results.warmCustomImageStartMs = stats(warmImage.map(round));
  }

  if (!skip('BOOT')) results.agentBootMs = stats((await agentBoot(dir, BOOT_RUNS)).map(round));

  if (!skip('CLI')) {
    // The CLI's own start, then `slipway run` as a user types it, on the warm fleet.
    const version = [];
    for (let i = 0; i < CLI_RUNS; i++) version.push(await timed(process.execPath, [cliPath, '--version']));
    results.cliStartMs = stats(version.map(round));
    const ws = join(dir, 'ws');
    await mkdir(ws);
    await writeFile(join(ws, 'azure-pipelines.yml'), trivial);
    const cliEnv = { ...process.env, SLIPWAY_URL: server.url, SLIPWAY_TOKEN: token, NO_COLOR: '1' };
    const cli = [];
    for (let i = 0; i < CLI_RUNS && !interrupted; i++) {
      await idleAgent();
      cli.push(await timed(process.execPath, [cliPath, 'run', '--dir', ws], cliEnv));
    }
    results.slipwayRunMs = stats(cli.map(round));
    results.slipwayRunToBareRatio = ratio(cli);
  }

  if (!skip('THROUGHPUT')) {
    // Bare `docker run --rm` at the fleet's concurrency, then the same count of trivial jobs.
    const bareStart = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: MAX }, async () => {
        while (next++ < THROUGHPUT_JOBS)
          await timed('docker', ['run', '--rm', '--label', label, image, 'true']);
      }),
    );
    const bareRate = (THROUGHPUT_JOBS / (performance.now() - bareStart)) * 60_000;
    await idleAgent();
    const burstStart = performance.now();
    const runs = await Promise.all(
      Array.from({ length: THROUGHPUT_JOBS }, () => queueRun(client, token, trivial)),
    );
    const finished = await Promise.all(runs.map((r) => finishRun(client, token, r.id, 300_000)));
    const burstMs = performance.now() - burstStart;
    const failed = finished.filter((f) => f.run.result !== 'succeeded').length;
    if (failed > 0) throw new Error(`${failed} of the throughput jobs did not succeed`);
    const jobsPerMinute = round((THROUGHPUT_JOBS / burstMs) * 60_000);
    results.throughput = {
      jobs: THROUGHPUT_JOBS,
      concurrency: MAX,
      seconds: Number((burstMs / 1000).toFixed(1)),
      jobsPerMinute,
      bareDockerRunPerMinute: round(bareRate),
      toBareRatio: Number((jobsPerMinute / bareRate).toFixed(2)),
    };
  }

  const rows = [
    ['bare docker run --rm IMG true', results.bareDockerRunMs, 'baseline'],
    ['warm start (queued → first step)', results.warmStartMs, '≤ 25 ms p50'],
    [
      'cold start, custom image',
      results.coldStartMs,
      `≤ 1.6 × bare, stretch 1.3 × (${results.coldToBareRatio}×)`,
    ],
    ['next job in a recent custom image', results.warmCustomImageStartMs, 'starts warm (≤ 25 ms p50)'],
    ['agent boot (start → first request)', results.agentBootMs, 'part of cold start'],
    ['CLI start (slipway --version)', results.cliStartMs, 'part of slipway run'],
    [
      'slipway run end to end (warm)',
      results.slipwayRunMs,
      `≤ 1.25 × bare (${results.slipwayRunToBareRatio}×)`,
    ],
  ];
  console.log(`\n${'measure'.padEnd(38)}${'n'.padStart(4)}${'p50'.padStart(8)}${'p95'.padStart(8)}  goal`);
  for (const [name, s, goal] of rows) {
    if (!s) continue;
    console.log(
      `${name.padEnd(38)}${String(s.n).padStart(4)}${`${s.p50}ms`.padStart(8)}${`${s.p95}ms`.padStart(8)}  ${goal}`,
    );
  }
  const t = results.throughput;
  if (t)
    console.log(
      `${'trivial jobs per minute'.padEnd(38)}${String(t.jobs).padStart(4)}${String(t.jobsPerMinute).padStart(8)}${''.padStart(8)}  ≥ 0.8 × bare docker run at ${t.concurrency} at once (${t.bareDockerRunPerMinute}/min: ${t.toBareRatio}×)`,
    );
  // Other benchmarks keep their keys in the same file: read it, set ours, write it back.
  await mkdir(join(root, '.bench'), { recursive: true });
  const file = join(root, '.bench/results.json');
  const previous = await readFile(file, 'utf8').then(JSON.parse, () => ({}));
  const ours = ['warmStartMs', 'coldStartMs', 'coldToBareRatio', 'warmCustomImageStartMs', 'agentBootMs'];
  ours.push('cliStartMs', 'slipwayRunMs', 'slipwayRunToBareRatio', 'throughput');
  // A skipped case leaves no figure of an older run behind under this run's date.
  for (const key of ours) delete previous[key];
  await writeFile(file, `${JSON.stringify({ ...previous, ...results }, null, 2)}\n`);
  console.log('\nset its figures in .bench/results.json');
} catch (error) {
  console.error(`bench: ${error?.stack ?? error}`);
  process.exitCode = 3;
} finally {
  if (!interrupted) await cleanup();
}
