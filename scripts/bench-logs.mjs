// A job that prints 100 MB, streamed to `slipway run`: how fast its log reaches the CLI, that no
// line is lost or out of order, and the server's resident memory before, at its peak and after.
// Real processes, as a user runs them: `slipway server`, `slipway agent run` on this host (no
// container: the log path is what is measured), `slipway run`.
// Run after `npm run build`: node scripts/bench-logs.mjs [--mb 100]   BENCH_SKIP_LOGS=1 skips it.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ApiClient } from '../dist/protocol/client.js';
import { printFigure, saveResults, skipped } from './bench-results.mjs';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '100' } } });
if (skipped('LOGS')) process.exit(0);
const LINE = 100; // bytes, newline included: a 9-digit number, a space, 89 x's
const LINES = Math.round((Number(values.mb) * 1e6) / LINE);
const CLI = new URL('../dist/cli/main.js', import.meta.url).pathname;
const TIMEOUT_MS = 180_000;

const started = [];
// BENCH_PROFILE_DIR=DIR writes a CPU profile of each process there, to see where the time goes.
const profile = process.env.BENCH_PROFILE_DIR
  ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE_DIR]
  : [];
function cli(args, env, cwd) {
  const child = spawn(process.execPath, [...profile, CLI, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', SLIPWAY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  return child;
}
function waitFor(child, pattern) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const on = (d) => {
      seen += d;
      if (pattern.test(seen)) resolve();
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.once('exit', (code) => reject(new Error(`exited with ${code} before ${pattern}: ${seen}`)));
  });
}
const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
/** CPU seconds a process has used so far (user + system), from the kernel. */
const cpuSeconds = async (pid) => {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const rss = async (pid) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-logs-'));
try {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = cli(['server', '--port', String(port), '--data', join(dir, 'data'), '--log-level', 'warn']);
  await waitFor(server, /listening on/);
  const admin = (await readFile(join(dir, 'data', 'admin.token'), 'utf8')).trim();
  const client = new ApiClient(url);
  const pat = (await client.request('tokens', { token: admin, body: { scopes: ['agent:register'] } })).body
    .token;
  await mkdir(join(dir, 'work'));
  const agent = cli(['agent', 'run'], {
    AZP_URL: url,
    AZP_TOKEN: pat,
    AZP_AGENT_NAME: 'bench-logs',
    AZP_WORK: join(dir, 'work'),
    SLIPWAY_LOG_LEVEL: 'info',
  });
  await waitFor(agent, /"msg":"registered"/);

  // The job writes as fast as its pipe lets it, so the figure is the log path's, not the printer's.
  const printer = `let i=0;const pad='x'.repeat(89);const w=()=>{let ok=true;while(i<${LINES}&&ok){let s='';for(let k=0;k<1000&&i<${LINES};k++)s+=String(++i).padStart(9,'0')+' '+pad+'\\n';ok=process.stdout.write(s);}if(i<${LINES})process.stdout.once('drain',w);};w();`;
  const project = join(dir, 'project');
  await mkdir(project);
  await writeFile(join(project, 'printer.js'), printer);
  await writeFile(
    join(project, 'logs.yml'),
    'jobs:\n- job: print\n  steps:\n  - script: node printer.js\n    displayName: print\n',
  );

  const before = await rss(server.pid);
  const cpuBefore = { server: await cpuSeconds(server.pid), agent: await cpuSeconds(agent.pid) };
  let peak = before;
  const sampler = setInterval(async () => {
    peak = Math.max(peak, await rss(server.pid).catch(() => 0));
  }, 100);
  const t0 = performance.now();
  // Through a shell that reports the CPU its child used (cutime + cstime of /proc/self/stat).
  const run = spawn(
    'sh',
    [
      '-c',
      `"${process.execPath}" ${profile.join(' ')} "${CLI}" run logs.yml; c=$?; echo "cpu-of-run $(cat /proc/$$/stat)" >&2; exit $c`,
    ],
    {
      cwd: project,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NO_COLOR: '1',
        SLIPWAY_URL: url,
        SLIPWAY_TOKEN: admin,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  started.push(run);
  let errors = '';
  run.stderr.on('data', (d) => {
    errors = (errors + d).slice(-2000);
  });
  let expected = 1;
  let outOfOrder = 0;
  let first;
  let last;
  const lines = createInterface({ input: run.stdout });
  lines.on('line', (line) => {
    const m = /(\d{9}) x{89}$/.exec(line);
    if (!m) return;
    const n = Number(m[1]);
    if (n !== expected) outOfOrder++;
    expected = n + 1;
    first ??= performance.now();
    last = performance.now();
  });
  const timer = setTimeout(() => run.kill(), TIMEOUT_MS);
  const code = await new Promise((resolve) => run.once('exit', (c, s) => resolve(c ?? s)));
  clearTimeout(timer);
  const total = (performance.now() - t0) / 1000;
  const cpu = {
    server: Number(((await cpuSeconds(server.pid)) - cpuBefore.server).toFixed(2)),
    agent: Number(((await cpuSeconds(agent.pid)) - cpuBefore.agent).toFixed(2)),
    cli: 0,
  };
  const runStat = /cpu-of-run \d+ \(.*?\) (.*)/.exec(errors)?.[1]?.split(' ');
  if (runStat) cpu.cli = Number(((Number(runStat[13]) + Number(runStat[14])) / 100).toFixed(2));
  // CPU per MB, summed over the three processes: the figure the machine's load does not move much.
  const cpuMsPerMB = Math.round(((cpu.server + cpu.agent + cpu.cli) * 1000) / Number(values.mb));
  // Per process too: where the CPU goes is what a change to one of them moves.
  const perMB = (seconds) => Math.round((seconds * 1000) / Number(values.mb));
  const cpuMsPerMBByProcess = { server: perMB(cpu.server), agent: perMB(cpu.agent), cli: perMB(cpu.cli) };
  clearInterval(sampler);
  await new Promise((r) => setTimeout(r, 1_000));
  const after = await rss(server.pid);

  if (code !== 0) console.error(`slipway run exited with ${code}: ${errors}`);
  const received = expected - 1;
  const streamSeconds = first === undefined ? 0 : (last - first) / 1000;
  const mb = (received * LINE) / 1e6;
  const results = {
    mb: Number(mb.toFixed(1)),
    exitCode: code,
    linesExpected: LINES,
    linesReceived: received,
    linesOutOfOrder: outOfOrder,
    streamMBps: streamSeconds > 0 ? Number((mb / streamSeconds).toFixed(1)) : 0,
    endToEndSeconds: Number(total.toFixed(2)),
    endToEndMBps: Number((mb / total).toFixed(1)),
    cpuSeconds: cpu,
    cpuMsPerMB,
    cpuMsPerMBByProcess,
    serverRssMiB: { before: Math.round(before), peak: Math.round(peak), after: Math.round(after) },
  };
  printFigure(
    `logs: ${results.mb} MB to slipway run (first → last line)`,
    `${results.streamMBps} MB/s`,
    '≥ 50 MB/s',
    results.streamMBps >= 50,
  );
  printFigure(
    '  the same, from `slipway run` started to its exit',
    `${results.endToEndMBps} MB/s`,
    `(${total.toFixed(1)} s)`,
  );
  printFigure(
    '  CPU seconds: server, agent, slipway run',
    `${cpu.server}, ${cpu.agent}, ${cpu.cli}`,
    `${cpuMsPerMB} ms per MB; ≤ 40 lets 2 cores reach 50 MB/s`,
  );
  printFigure(
    '  CPU ms per MB: server, agent, slipway run',
    `${cpuMsPerMBByProcess.server}, ${cpuMsPerMBByProcess.agent}, ${cpuMsPerMBByProcess.cli}`,
    '(moves less with the load than MB/s)',
  );
  printFigure(
    '  lines lost or out of order',
    `${LINES - received + outOfOrder}`,
    `0 of ${LINES}`,
    LINES - received + outOfOrder === 0 && code === 0,
  );
  printFigure(
    '  server RSS before → peak → after',
    `${results.serverRssMiB.before}→${results.serverRssMiB.peak}→${results.serverRssMiB.after} MiB`,
    'peak growth ≤ 100 MiB',
    peak - before <= 100,
  );
  await saveResults({ logs: results });
} finally {
  // Only what this script started, by its own handles.
  // The server last: an agent deregisters on the way out, and keeps retrying while it cannot.
  // Profiles are written as a process exits, so each is waited for (a draining agent takes a moment).
  const stop = async (children) => {
    const running = children.filter((child) => child.exitCode === null);
    for (const child of running) child.kill('SIGTERM');
    await Promise.race([
      Promise.all(running.map((child) => new Promise((r) => child.once('exit', r)))),
      new Promise((r) => setTimeout(r, process.env.BENCH_PROFILE_DIR ? 15_000 : 2_000)),
    ]);
  };
  await stop(started.slice(1));
  await stop(started.slice(0, 1));
  await rm(dir, { recursive: true, force: true });
}
process.exit(0);
