// Where the time of a warm and a cold start goes, request by request: logging proxies in front of
// the server's agent socket, its TCP API (the fleet's client) and the Docker engine, the engine's
// events, and the run's own events, all on one clock from the job's `queued` event. Prints each
// job's timeline (VERBOSE=1: every warm one too) and, for cold jobs, the phases: fleet reaction,
// container create, ticket upload, start, agent boot (start → register), the round trips to the
// claim (one `agents/start` request for a ticket's agent), and claim → first step. After
// `npm run build`: `node scripts/bench-phases.mjs` (WARM=5 COLD=5 by default). Everything it
// starts is labelled and removed.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => join(root, 'dist', p);
const { startServer } = await import(dist('server/index.js'));
const { DockerDriver, FleetManager } = await import(dist('fleet/index.js'));
const { finishRun, fleetWaits, queueRun, removeLabelled } = await import(dist('fleet/fleet-test-support.js'));
const { buildImages } = await import(dist('images/index.js'));
const { importRootfs } = await import(dist('images/docker-import.js'));
const { findStaticBusybox } = await import(dist('images/host.js'));
const { RootfsPlan } = await import(dist('images/rootfs.js'));
const { ApiClient } = await import(dist('protocol/client.js'));
const { silentLogger } = await import(dist('shared/logger.js'));

const now = () => performance.timeOrigin + performance.now();
const log = [];
let conns = 0;
const connId = new WeakMap();
function proxy(name, listen, target) {
  const server = http.createServer((req, res) => {
    if (!connId.has(req.socket)) connId.set(req.socket, ++conns);
    const entry = {
      src: `${name}#${connId.get(req.socket)}`,
      method: req.method,
      path: req.url.replace(/\?.*/, ''),
      start: now(),
    };
    log.push(entry);
    const up = http.request({ ...target, method: req.method, path: req.url, headers: req.headers }, (r) => {
      entry.head = now();
      res.writeHead(r.statusCode, r.headers);
      entry.status = r.statusCode;
      r.pipe(res);
      r.on('end', () => (entry.end = now()));
    });
    up.on('error', (e) => res.destroy(e));
    req.pipe(up);
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((r) => server.listen(listen, () => r(server)));
}

const COLD = Number(process.env.COLD ?? 5);
const WARM = Number(process.env.WARM ?? 5);
const benchId = randomBytes(5).toString('hex');
const label = `slipway.bench=${benchId}`;
const hostDocker = new Docker();
const dir = await mkdtemp(join(tmpdir(), 'slw-phase-'));
await proxy('docker', join(dir, 'docker.sock'), { socketPath: '/var/run/docker.sock' });
const docker = new Docker({ socketPath: join(dir, 'docker.sock') });
const image = `slipway-bench/busybox:${benchId}`;
const tags = [];
let server, fleet;
try {
  await buildImages({ docker: hostDocker, agentBundlePath: dist('agent/slipway-agent.mjs') });
  const plan = new RootfsPlan({ usrMerge: false });
  await plan.file('/bin/busybox', await findStaticBusybox(), { mode: 0o755 });
  for (const a of ['sh', 'true', 'echo']) plan.symlink(`/bin/${a}`, 'busybox');
  await importRootfs(hostDocker, plan.tar(), {
    repo: 'slipway-bench/busybox',
    tag: benchId,
    config: { cmd: ['/bin/sh'], env: { PATH: '/bin' }, labels: { 'slipway.bench': benchId } },
  });
  const realSock = join(dir, 'agent-real.sock');
  const agentSock = join(dir, 'agent.sock');
  server = await startServer({
    config: {
      host: '127.0.0.1',
      port: 0,
      dataDir: join(dir, 'data'),
      socketPath: realSock,
      logLevel: 'silent',
    },
    logger: silentLogger,
  });
  await proxy('agent', agentSock, { socketPath: realSock });
  const u = new URL(server.url);
  const apiProxy = await proxy('fleet', 0, { host: u.hostname, port: Number(u.port) });
  const token = (await readFile(server.adminTokenFile, 'utf8')).trim();
  const fleetClient = new ApiClient(`http://127.0.0.1:${apiProxy.address().port}`);
  const client = new ApiClient(server.url);
  fleet = new FleetManager({
    client: fleetClient,
    adminToken: token,
    driver: new DockerDriver({ docker, serverSocket: agentSock, labels: { 'slipway.bench': benchId } }),
    fleetId: `phase-${benchId}`,
    minIdle: 1,
    max: 4,
    warmPerImage: 1,
  });
  await fleet.start();
  const { idleAgent, settled } = fleetWaits(client, token, fleet);
  const events = [];
  const de = await hostDocker.getEvents({ filters: { label: [label] } });
  de.on('data', (b) => {
    for (const l of b.toString().split('\n').filter(Boolean)) {
      const e = JSON.parse(l);
      events.push({
        t: e.timeNano / 1e6,
        what: `${e.Type}:${e.Action}`,
        id: e.id?.slice(0, 8),
        image: e.Actor?.Attributes?.image,
      });
    }
  });
  const runOne = async (yaml) => {
    const mark = log.length,
      evMark = events.length;
    const run = await queueRun(client, token, yaml);
    const { events: ev } = await finishRun(client, token, run.id);
    const q = Date.parse(ev.find((e) => e.kind === 'job' && e.data.status === 'queued').at);
    const s = Date.parse(ev.find((e) => e.kind === 'step' && e.data.status === 'running').at);
    await new Promise((r) => setTimeout(r, 300));
    const rows = [];
    for (const e of log.slice(mark))
      if (!e.src.startsWith('fleet') || !/events|runs\//.test(e.path))
        rows.push([
          e.start - q,
          `${e.src} ${e.method} ${e.path} -> ${e.status} head+${((e.head ?? 0) - e.start).toFixed(1)} end+${((e.end ?? 0) - e.start).toFixed(1)}`,
        ]);
    for (const e of events.slice(evMark)) rows.push([e.t - q, `EVENT ${e.what} ${e.id} ${e.image ?? ''}`]);
    rows.sort((a, b) => a[0] - b[0]);
    return {
      total: s - q,
      q,
      jobId: ev.find((e) => e.kind === 'job')?.jobId,
      mark,
      evMark,
      rows: rows.filter((r) => r[0] < s - q + 50 && r[0] > -50),
    };
  };
  const containerJob = (ref) => `jobs:\n- job: cold\n  container: ${ref}\n  steps:\n  - script: echo cold\n`;
  for (let i = 0; i < WARM; i++) {
    await idleAgent();
    const r = await runOne("steps:\n- script: 'true'\n");
    console.log(`\n=== warm ${i}: ${r.total} ms`);
    if (process.env.VERBOSE || i === WARM - 1)
      for (const [t, w] of r.rows) console.log(`${t.toFixed(1).padStart(8)}  ${w}`);
  }
  const phases = [];
  /** The cold job's phases, from its container's events and requests and its agent's connection. */
  const coldPhases = (r, ref) => {
    const created = events.slice(r.evMark).find((e) => e.what === 'container:create' && e.image === ref);
    const started = events.slice(r.evMark).find((e) => e.what === 'container:start' && e.image === ref);
    const mine = log.slice(r.mark);
    // A ticket's agent claims in its `agents/start` request; an older one registers, then claims.
    const startRequest = mine.find(
      (e) => e.src.startsWith('agent') && e.path.endsWith('/agents/start') && e.start >= (started?.t ?? 0),
    );
    const claim =
      mine.find((e) => e.src.startsWith('agent') && e.path.endsWith(`${r.jobId}/claim`)) ?? startRequest;
    if (!created || !started || !claim) return undefined;
    const full = mine.find((e) => e.src.startsWith('docker') && e.path.includes(`/containers/${created.id}`));
    const id = full?.path.split('/')[2] ?? created.id;
    const create = mine.filter((e) => e.path === '/containers/create' && e.start <= created.t).at(-1);
    const archive = mine.find((e) => e.path === `/containers/${id}/archive`);
    const start = mine.find((e) => e.path === `/containers/${id}/start`);
    const register =
      mine.find((e) => e.src === claim.src && e.path.endsWith('/agents/register')) ?? startRequest;
    if (!create || !start || !register) return undefined;
    return {
      'queued→create': create.start - r.q,
      create: create.end - create.start,
      // None when the ticket went into the unit's bind-mounted directory.
      'ticket upload': archive ? archive.end - archive.start : 0,
      'start call': start.end - start.start,
      'start→register': register.start - started.t,
      'register→claim answered': claim.end - register.start,
      'claim→first step': r.q + r.total - claim.end,
      total: r.total,
    };
  };
  for (let i = 0; i < COLD; i++) {
    await settled();
    const tag = `cold-${benchId}-${i}`;
    await hostDocker.getImage(image).tag({ repo: 'slipway-bench/busybox', tag });
    tags.push(`slipway-bench/busybox:${tag}`);
    const r = await runOne(containerJob(`slipway-bench/busybox:${tag}`));
    console.log(`\n=== cold ${i}: ${r.total} ms`);
    for (const [t, w] of r.rows) console.log(`${t.toFixed(1).padStart(8)}  ${w}`);
    const p = coldPhases(r, `slipway-bench/busybox:${tag}`);
    if (p) {
      phases.push(p);
      console.log(
        Object.entries(p)
          .map(([k, v]) => `${k} ${v.toFixed(0)}`)
          .join(', '),
      );
    }
  }
  de.destroy();
  if (phases.length > 0) {
    console.log('\ncold start phases, median ms:');
    for (const k of Object.keys(phases[0])) {
      const v = phases.map((p) => p[k]).sort((a, b) => a - b);
      console.log(`  ${k.padEnd(26)}${v[Math.floor(v.length / 2)].toFixed(0).padStart(6)}`);
    }
  }
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await fleet?.stop().catch(() => {});
  await server?.stop().catch(() => {});
  await removeLabelled(hostDocker, label).catch(() => {});
  for (const ref of [...tags, image])
    await hostDocker
      .getImage(ref)
      .remove({ force: true })
      .catch(() => {});
  await rm(dir, { recursive: true, force: true });
  process.exit();
}
