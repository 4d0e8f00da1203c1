// Caches: the same dependency-heavy job (by default 20,000 small files, about 200 MB, made by a
// step that stands in for `npm ci`) run cold, with nothing cached, then warm, restored from the
// cache. Prints both times and the restore rate in MB/s; anchors: GitHub's cache action on
// self-hosted runners is reported at 3.5 to 50 MB/s. A host agent and a server from `dist/`,
// all in a temporary folder that is removed afterwards.
// Opt out with BENCH_CACHE=0; BENCH_CACHE_FILES and BENCH_CACHE_MB size the job.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.env.BENCH_CACHE === '0') {
  console.log('bench-cache: skipped (BENCH_CACHE=0)');
  process.exit(0);
}
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'cli', 'main.js');
if (!existsSync(cli)) {
  console.error('bench-cache: no build found; run `npm run build` first');
  process.exit(2);
}
const FILES = Number(process.env.BENCH_CACHE_FILES ?? 20_000);
const MB = Number(process.env.BENCH_CACHE_MB ?? 200);
/** Longest one run may take before the bench gives up. */
const RUN_TIMEOUT_MS = 10 * 60_000;

const { startServer } = await import(join(root, 'dist', 'server', 'index.js'));
const { silentLogger } = await import(join(root, 'dist', 'shared', 'logger.js'));

// Stands in for a package install: FILES files in nested folders, MB in all, incompressible.
const GENERATE = `
import { randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
const [files, mb] = process.argv.slice(2).map(Number);
const size = Math.floor((mb * 1e6) / files);
const buf = Buffer.alloc(size);
for (let i = 0; i < files; i++) {
  const dir = \`deps/pkg-\${i % 500}/lib/\${Math.floor(i / 500) % 8}\`;
  if (i < 4000) mkdirSync(dir, { recursive: true });
  randomFillSync(buf);
  writeFileSync(\`\${dir}/f\${i}.js\`, buf);
}
`;
const PIPELINE = `
steps:
- cache:
    key: 'bench | "$(Agent.OS)" | lock.txt'
    path: deps
    cacheHitVar: DEPS_RESTORED
  displayName: Restore deps
- bash: node gen.mjs ${FILES} ${MB}
  condition: ne(variables.DEPS_RESTORED, 'true')
  displayName: Install deps
- bash: |
    echo "deps: $(find deps -type f | wc -l) files"
  displayName: Use deps
`;

const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-cache-'));
const children = new Set();
let server;

function spawnCli(args, env) {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', SLIPWAY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((ok) =>
    child.on('close', (code) => {
      children.delete(child);
      ok(code);
    }),
  );
  return { child, exited, output: () => out };
}

async function timedRun(token, workspace) {
  const started = performance.now();
  const p = spawnCli(['run', '--dir', workspace], { SLIPWAY_URL: server.url, SLIPWAY_TOKEN: token });
  const timer = setTimeout(() => p.child.kill('SIGTERM'), RUN_TIMEOUT_MS);
  const code = await p.exited;
  clearTimeout(timer);
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`the run exited ${code}:\n${p.output().slice(-4000)}`);
  return { ms, output: p.output() };
}

try {
  server = await startServer({
    config: { host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), logLevel: 'silent' },
    logger: silentLogger,
  });
  const token = (await readFile(server.adminTokenFile, 'utf8')).trim();
  const pat = (
    await server.context.tokens.create({ name: 'bench', scopes: ['agent:register'], expiresInDays: 1 })
  ).token;
  const agent = spawnCli(['agent', 'run'], {
    AZP_URL: server.url,
    AZP_TOKEN: pat,
    AZP_AGENT_NAME: 'bench-cache',
    AZP_WORK: join(dir, 'work'),
    SLIPWAY_LOG_LEVEL: 'info',
  });
  for (let i = 0; i < 100 && !agent.output().includes('"msg":"registered"'); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const workspace = join(dir, 'ws');
  await mkdir(workspace);
  await writeFile(join(workspace, 'azure-pipelines.yml'), PIPELINE);
  await writeFile(join(workspace, 'gen.mjs'), GENERATE);
  await writeFile(join(workspace, 'lock.txt'), `bench ${FILES} ${MB}\n`);

  console.log(`bench-cache: ${FILES} files, ${MB} MB of dependencies, host agent`);
  const cold = await timedRun(token, workspace);
  const saved = /Saved (\d+) files \(([\d.]+) MB\).* in ([\d.]+)s/.exec(cold.output);
  const warm = await timedRun(token, workspace);
  const restored = /Restored (\d+) files \(([\d.]+) MB\).* in ([\d.]+)s \(([\d.]+) MB\/s/.exec(warm.output);
  if (!saved || !restored || !warm.output.includes('DEPS_RESTORED = true')) {
    throw new Error(`the warm run did not restore the cache:\n${warm.output.slice(-4000)}`);
  }
  const phases = /download ([\d.]+)s, unpack ([\d.]+)s/.exec(warm.output);
  const archiveMB = Number(restored[2]);
  const restoreS = Number(restored[3]);
  const rows = [
    [
      'cold run (install + save)',
      `${(cold.ms / 1000).toFixed(1)} s`,
      `save ${saved[3]} s for ${saved[2]} MB`,
    ],
    [
      'warm run (restore)',
      `${(warm.ms / 1000).toFixed(1)} s`,
      `restore ${restoreS.toFixed(1)} s (download ${phases?.[1]} s, check and unpack ${phases?.[2]} s), ${restored[1]} files`,
    ],
    [
      'restore rate',
      `${restored[4]} MB/s`,
      'anchor: GitHub cache action on self-hosted runners, 3.5–50 MB/s',
    ],
  ];
  console.log(`  ${/Restored .*/.exec(warm.output)?.[0]}`);
  for (const [what, value, note] of rows) console.log(`  ${what.padEnd(28)} ${value.padStart(10)}   ${note}`);
  const results = {
    files: FILES,
    megabytes: MB,
    coldMs: Math.round(cold.ms),
    warmMs: Math.round(warm.ms),
    saveSeconds: Number(saved[3]),
    restoreSeconds: restoreS,
    downloadSeconds: Number(phases?.[1]),
    unpackSeconds: Number(phases?.[2]),
    archiveMB,
    restoreMBps: Number(restored[4]),
  };
  console.log(JSON.stringify(results));
  agent.child.kill('SIGTERM');
} finally {
  for (const child of children) child.kill('SIGKILL');
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
}
