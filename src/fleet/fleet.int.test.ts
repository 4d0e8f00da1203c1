import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_IMAGE, buildImages } from '../images/index.js';
import { ApiClient, answeredStatus } from '../protocol/client.js';
import { type PoolDemand, poolDemandResponse } from '../protocol/schemas.js';
import { type SlipwayServer, startServer } from '../server/index.js';
import { AuthError } from '../shared/errors.js';
import { silentLogger } from '../shared/logger.js';
import { SOCKET_IN_CONTAINER, TICKET_DIR } from './container-spec.js';
import { DockerDriver } from './drivers/docker.js';
import { FleetManager, type UnitEvent } from './fleet-manager.js';
import {
  countLabelled,
  finishRun,
  importBusyboxOnlyImage,
  queueRun,
  removeLabelled,
  runPipeline,
  waitFor,
} from './fleet-test-support.js';
import { LABEL } from './labels.js';

const repoRoot = resolve(import.meta.dirname, '../..');
const bundlePath = join(repoRoot, 'dist/agent/slipway-agent.mjs');
const runId = randomBytes(5).toString('hex');
const testLabel = `slipway.test=${runId}`;
const fleetId = `test-${runId}`;
const docker = new Docker();

let dir = '';
let server: SlipwayServer | undefined;
let fleet: FleetManager | undefined;
let client: ApiClient;
let adminToken = '';
let tinyImage = '';
const started: Array<UnitEvent & { at: number }> = [];
const exited: Array<UnitEvent & { exitCode: number }> = [];
const scaledDown: string[] = [];
/** `docker inspect` of every container the fleet made, taken as each unit started. */
const inspections: Array<Promise<Docker.ContainerInspectInfo[]>> = [];

async function inspectUnit(unitId: string): Promise<Docker.ContainerInspectInfo[]> {
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL.unit}=${unitId}`] },
  });
  const found = await Promise.all(
    containers.map((c) =>
      docker
        .getContainer(c.Id)
        .inspect()
        .catch(() => undefined),
    ),
  );
  return found.filter((c) => c !== undefined);
}

async function demand(): Promise<PoolDemand> {
  const { body } = await client.request('pools/default/demand?waitMs=0', { token: adminToken });
  return poolDemandResponse.parse(body);
}

const run = (yaml: string) => runPipeline(client, adminToken, yaml);

beforeAll(async () => {
  if (spawnSync('docker', ['info'], { stdio: 'ignore' }).status !== 0) {
    execFileSync('bash', [join(repoRoot, 'scripts/ensure-docker.sh')], { stdio: 'inherit' });
  }
  if (!existsSync(bundlePath)) {
    execFileSync(process.execPath, [join(repoRoot, 'scripts/bundle-agent.mjs')], { stdio: 'inherit' });
  }
  await buildImages({ docker, agentBundlePath: bundlePath });
  tinyImage = `slipway-test/busybox-only:${runId}`;
  await importBusyboxOnlyImage(
    docker,
    { repo: 'slipway-test/busybox-only', tag: runId },
    { 'slipway.test': runId },
  );

  dir = await mkdtemp(join(tmpdir(), 'slw-fleet-'));
  await mkdir(join(dir, 'tickets'));
  const socketPath = join(dir, 'agent.sock');
  server = await startServer({
    config: {
      host: '127.0.0.1',
      port: 0,
      dataDir: join(dir, 'data'),
      socketPath,
      logLevel: 'silent',
      leaseTtlSeconds: 6,
    },
    logger: silentLogger,
  });
  adminToken = (await readFile(server.adminTokenFile, 'utf8')).trim();
  client = new ApiClient(server.url);
  fleet = new FleetManager({
    client,
    adminToken,
    driver: new DockerDriver({
      docker,
      serverSocket: socketPath,
      labels: { 'slipway.test': runId },
      resources: { pids: 1024, memoryBytes: 1024 ** 3 },
      ticketRoot: join(dir, 'tickets'),
    }),
    fleetId,
    minIdle: 1,
    max: 4,
    scaleDownDelayMs: 300,
    drainTimeoutMs: 20_000,
    stopGraceSeconds: 5,
    demandWaitMs: 2_000,
  });
  fleet.on('unitStarted', (u) => {
    started.push({ ...u, at: Date.now() });
    inspections.push(inspectUnit(u.unitId));
  });
  fleet.on('unitExited', (u) => exited.push({ ...u, exitCode: u.exit.exitCode }));
  fleet.on('scaledDown', (u) => scaledDown.push(u.name));
  await fleet.start();
}, 180_000);

afterAll(async () => {
  await fleet?.stop().catch(() => undefined);
  await server?.stop().catch(() => undefined);
  await removeLabelled(docker, testLabel);
  await removeLabelled(docker, `${LABEL.fleet}=${fleetId}`);
  if (tinyImage)
    await docker
      .getImage(tinyImage)
      .remove({ force: true })
      .catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('the Docker fleet', () => {
  it('starts a plain job at once on the warm agent that was already waiting', async () => {
    const idle = await waitFor(
      async () => (await demand()).agents.find((a) => a.polling && !a.busy),
      'an idle warm agent',
    );
    const unit = started.find((u) => u.name === idle.name && u.jobId === undefined);
    expect(unit).toBeDefined();
    const queuedAt = Date.now();
    const { run: done } = await run('steps:\n- script: echo warm on $(Agent.Name)\n');
    expect(done.result).toBe('succeeded');
    expect(done.jobs[0]!.agentName).toBe(idle.name);
    expect(unit!.at).toBeLessThan(queuedAt);
  });

  it('runs container jobs: the default image warm, a busybox-only image cold with a service by name', async () => {
    const { run: done, log } = await run(`
jobs:
- job: base
  container: ${BASE_IMAGE}
  steps:
  - script: |
      echo "base image on $(Agent.Name)"; git --version
      echo "base steps trust: $NODE_EXTRA_CA_CERTS"
      for p in /proc/[0-9]*; do
        if grep -q slipway-agent $p/cmdline 2>/dev/null; then
          echo "base agent parses a CA bundle at start: $(tr '\\0' '\\n' < $p/environ | grep -c '^NODE_EXTRA_CA_CERTS=.')"
        fi
      done
- job: tiny
  container: ${tinyImage}
  services:
    echo: ${tinyImage}
  steps:
  - script: |
      echo "files in /bin: $(busybox ls /bin)"
      busybox ls /lib /usr 2>&1 || echo "no libc here"
      echo "service says: $(busybox nc echo 8080)"
      echo "steps trust: $NODE_EXTRA_CA_CERTS; handed over: \${SLIPWAY_JOB_NODE_EXTRA_CA_CERTS:-no}"
      for p in /proc/[0-9]*; do
        if busybox grep -q slipway-agent $p/cmdline 2>/dev/null; then
          echo "agent parses a CA bundle at start: $(busybox tr '\\0' '\\n' < $p/environ | busybox grep -c '^NODE_EXTRA_CA_CERTS=.')"
        fi
      done
`);
    expect(done.jobs.map((j) => [j.name, j.result, j.reason])).toEqual([
      ['base', 'succeeded', null],
      ['tiny', 'succeeded', null],
    ]);
    expect(log).toContain('files in /bin: busybox');
    expect(log).toContain('no libc here');
    expect(log).toContain('service says: hi');
    // The agent talks over a Unix socket: the CA bundle is its steps', not parsed at its own start.
    expect(log).toContain('steps trust: /slipway/certs/ca-certificates.crt; handed over: no');
    expect(log).toContain('agent parses a CA bundle at start: 0');
    // An image that sets its own bundle (slipway/base does): the steps get it, the agent does not.
    expect(log).toContain('base steps trust: /etc/ssl/certs/ca-certificates.crt');
    expect(log).toContain('base agent parses a CA bundle at start: 0');
    const base = done.jobs.find((j) => j.name === 'base')!;
    const tiny = done.jobs.find((j) => j.name === 'tiny')!;
    // The default image's container job ran on a warm agent; the other image got its own agent.
    expect(started.some((u) => u.name === base.agentName && u.jobId === undefined)).toBe(true);
    expect(started.find((u) => u.jobId === tiny.id)).toMatchObject({
      image: tinyImage,
      name: tiny.agentName,
    });
    // Its service and network went with it.
    const unitId = started.find((u) => u.jobId === tiny.id)!.unitId;
    await waitFor(async () => {
      const left = await docker.listContainers({
        all: true,
        filters: { label: [`${LABEL.unit}=${unitId}`] },
      });
      const nets = await docker.listNetworks({ filters: { label: [`${LABEL.unit}=${unitId}`] } });
      return left.length + nets.length === 0;
    }, 'the cold unit to be removed');
  });

  it("gives a job that a warm agent takes its container's env, as a container made for it gets it", async () => {
    const { run: done, log } = await run(`
jobs:
- job: warm
  container:
    image: ${BASE_IMAGE}
    env: { GREETING: from-container-env }
  steps:
  - script: echo "greeting=$GREETING"
`);
    expect(done.jobs[0]!.result).toBe('succeeded');
    expect(started.some((u) => u.name === done.jobs[0]!.agentName && u.jobId === undefined)).toBe(true);
    expect(log).toContain('greeting=from-container-env');
  });

  it('brings a cache from one job container to the next, which restores it and skips the save', async () => {
    const pipeline = `
steps:
- cache:
    key: 'fleet | "$(Agent.OS)" | "${Date.now()}"'
    path: $(Pipeline.Workspace)/deps
    cacheHitVar: HIT
- script: |
    echo "hit=$(HIT)"
    if [ -f "$(Pipeline.Workspace)/deps/made" ]; then echo "restored: $(cat "$(Pipeline.Workspace)/deps/made")"; fi
    mkdir -p "$(Pipeline.Workspace)/deps" && hostname > "$(Pipeline.Workspace)/deps/made"
`;
    const first = await run(pipeline);
    expect(first.run.jobs[0]!.result).toBe('succeeded');
    expect(first.log).toContain('hit=false');
    expect(first.log).toMatch(/Saved \d+ files/);
    const second = await run(pipeline);
    expect(second.log).toContain('hit=true');
    expect(second.log).toMatch(/restored: \S+/);
    expect(second.log).toMatch(/Cache hit on the exact key .*: not saving/);
  });

  it('gives each job a fresh container: files and processes of one job are gone for the next', async () => {
    const { run: done, log } = await run(`
jobs:
- job: first
  steps:
  - script: |
      echo leak > /leak-root
      echo leak > "$BUILD_SOURCESDIRECTORY/leak-ws"
      echo leak > /tmp/leak-tmp
      setsid sleep 300 </dev/null >/dev/null 2>&1 &
      echo "first ran in $(hostname)"
- job: second
  dependsOn: first
  steps:
  - script: |
      echo "second ran in $(hostname)"
      for f in /leak-root "$BUILD_SOURCESDIRECTORY/leak-ws" /tmp/leak-tmp; do
        if [ -e "$f" ]; then echo "LEAKED $f"; exit 1; fi
      done
      if ps -o args | grep -v grep | grep -q "sleep 300"; then echo "LEAKED a process"; exit 1; fi
      if [ -e /run/slipway-ticket/ticket ]; then echo "the ticket is still there"; exit 1; fi
      echo "nothing leaked"
`);
    expect(done.jobs.map((j) => j.result)).toEqual(['succeeded', 'succeeded']);
    expect(log).toContain('nothing leaked');
    const hosts = [...log.matchAll(/(first|second) ran in ([0-9a-f]{12})\b/g)].map((m) => m[2]);
    expect(hosts).toHaveLength(2);
    expect(hosts[0]).not.toBe(hosts[1]);
  });

  it('keeps jobs running side by side from reaching each other over the network', async () => {
    const server = await queueRun(
      client,
      adminToken,
      'steps:\n- script: nc -ll -p 9000 -e echo reached & sleep 30\n',
    );
    const name = await waitFor(async () => {
      const view = (
        await client.request<{ jobs: Array<{ status: string; agentName: string | null }> }>(
          `runs/${server.id}`,
          { token: adminToken },
        )
      ).body;
      return view.jobs[0]?.status === 'running' ? (view.jobs[0].agentName ?? undefined) : undefined;
    }, 'the listening job to run');
    const unit = fleet!.units().find((u) => u.name === name)!;
    const [listed] = await docker.listContainers({
      filters: { label: [`${LABEL.unit}=${unit.unitId}`, `${LABEL.role}=agent`] },
    });
    const container = await docker.getContainer(listed!.Id).inspect();
    const ip = Object.values(container.NetworkSettings.Networks)[0]!.IPAddress;
    // The listener is there: from inside its own container it answers.
    await waitFor(
      async () =>
        spawnSync('docker', ['exec', listed!.Id, 'nc', '-w', '1', '127.0.0.1', '9000'])
          .stdout?.toString()
          .includes('reached'),
      'the listener',
      10_000,
    );
    const { run: probe, log } = await run(
      `steps:\n- script: if nc -w 2 ${ip} 9000; then echo REACHED; else echo BLOCKED; fi\n`,
    );
    expect(probe.result).toBe('succeeded');
    expect(log).toContain('BLOCKED');
    expect(log).not.toContain('REACHED\n');
    await client.request(`runs/${server.id}/cancel`, { method: 'POST', token: adminToken });
    expect((await finishRun(client, adminToken, server.id)).run.result).toBe('canceled');
  });

  it('lets no credential into a job: env, /proc/*/environ and the filesystem hold no ticket, PAT or admin token', async () => {
    // A PAT exists on the server, so finding none in the job means something.
    await client.request('tokens', {
      token: adminToken,
      body: { name: 'probe', scopes: ['agent:register'] },
    });
    const { run: done, log } = await run(`
steps:
- bash: |
    P=slw_
    echo "\${P}canary_file" > /tmp/canary
    cat > /tmp/hunt.js <<'EOF'
    const fs = require('node:fs');
    const P = 'slw' + '_';
    const needles = ['jit_', 'adm_', 'pat_', 'canary_'].map((s) => P + s);
    const hits = Object.fromEntries(needles.map((n) => [n, []]));
    const scan = (buf, where) => { for (const n of needles) if (buf.indexOf(n) >= 0) hits[n].push(where); };
    scan(Buffer.from(JSON.stringify(process.env)), 'env');
    for (const pid of fs.readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d))) {
      for (const f of ['environ', 'cmdline']) { try { scan(fs.readFileSync('/proc/' + pid + '/' + f), '/proc/' + pid + '/' + f); } catch {} }
    }
    let files = 0;
    const walk = (dir) => {
      let names = [];
      try { names = fs.readdirSync(dir); } catch { return; }
      for (const name of names) {
        const path = (dir === '/' ? '' : dir) + '/' + name;
        if (['/proc', '/sys', '/dev'].includes(path)) continue;
        let st;
        try { st = fs.lstatSync(path); } catch { continue; }
        if (st.isDirectory()) walk(path);
        else if (st.isFile()) { files++; try { scan(fs.readFileSync(path), path); } catch {} }
      }
    };
    walk('/');
    console.log('searched ' + files + ' files; hits: ' + JSON.stringify(hits));
    const leaked = needles.filter((n) => !n.endsWith('canary_') && hits[n].length > 0);
    const canaryMissed = !hits[P + 'canary_'].includes('/tmp/canary') || !hits[P + 'canary_'].includes('env');
    process.exit(leaked.length > 0 || canaryMissed ? 1 : 0);
    EOF
    node /tmp/hunt.js
  env:
    CANARY: slw_canary_env
`);
    expect(log).toMatch(/searched \d{4,} files/);
    expect(done.result, log).toBe('succeeded');
  });

  it("keeps a job that reads its agent's memory from claiming another job with the agent's token", async () => {
    // Only one agent, so the victim waits while the attacker runs.
    fleet!.setLimits({ minIdle: 1, max: 1 });
    await waitFor(
      async () =>
        fleet!.units().length === 1 && (await demand()).agents.filter((a) => a.polling).length === 1,
      'a fleet of one idle agent',
    );
    const attacker = await queueRun(
      client,
      adminToken,
      `
steps:
- bash: |
    cat > /tmp/steal.js <<'EOF'
    const fs = require('node:fs');
    const http = require('node:http');
    const pids = fs.readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d));
    // The agent, not the init in front of it (which has the same words in its command line).
    const pid = pids.find((p) => { try { return fs.readFileSync('/proc/' + p + '/cmdline', 'utf8').startsWith('/slipway/lib/'); } catch { return false; } });
    let text = '';
    const fd = fs.openSync('/proc/' + pid + '/mem', 'r');
    for (const line of fs.readFileSync('/proc/' + pid + '/maps', 'utf8').split('\\n')) {
      const [range, perms] = line.split(' ');
      if (!perms || !perms.startsWith('rw')) continue;
      const [a, b] = range.split('-').map((h) => BigInt('0x' + h));
      if (b - a > 512n * 1024n * 1024n) continue;
      const buf = Buffer.alloc(Number(b - a));
      try { fs.readSync(fd, buf, 0, buf.length, a); text += buf.toString('latin1'); } catch {}
    }
    const tokens = [...new Set(text.match(/slw_agt_[A-Za-z0-9_-]{43}/g) ?? [])];
    const sessions = [...new Set(text.match(/sess_[A-Za-z0-9_-]{22}/g) ?? [])];
    console.log('found ' + tokens.length + ' agent tokens and ' + sessions.length + ' sessions in the agent');
    const call = (path, token, body) => new Promise((resolve) => {
      const req = http.request({ socketPath: '/run/slipway/agent.sock', path: '/api/v1/' + path, method: 'POST', timeout: 20000,
        headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' } }, (res) => {
        let data = ''; res.on('data', (c) => (data += c)); res.on('end', () => resolve({ status: res.statusCode, body: data }));
      });
      req.on('error', () => resolve({ status: 0, body: '' }));
      req.on('timeout', () => req.destroy());
      req.end(JSON.stringify(body));
    });
    (async () => {
      const until = Date.now() + 20000;
      while (Date.now() < until) {
        for (const t of tokens) for (const s of sessions) {
          const offer = await call('agents/poll', t, { sessionId: s });
          if (offer.status !== 200) continue;
          const claim = await call('jobs/' + JSON.parse(offer.body).jobId + '/claim', t, { sessionId: s });
          console.log('CLAIM ' + claim.status + (claim.status === 200 ? ' STOLE ' + JSON.stringify(JSON.parse(claim.body).secrets) : ''));
          return;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      console.log('NO OFFER');
    })();
    EOF
    node /tmp/steal.js
`,
    );
    await waitFor(async () => (await demand()).agents.some((a) => a.busy), 'the attacker to run');
    const victim = await queueRun(client, adminToken, 'steps:\n- script: echo victim ran\n', {
      secrets: { victimSecret: 'hunter2-of-the-victim' },
    });
    const attack = await finishRun(client, adminToken, attacker.id);
    expect(attack.log).toMatch(/found [1-9]\d* agent tokens/);
    expect(attack.log).not.toContain('STOLE');
    expect(attack.log).not.toContain('hunter2-of-the-victim');
    const done = await finishRun(client, adminToken, victim.id);
    expect(done.run.result).toBe('succeeded');
    fleet!.setLimits({ minIdle: 1, max: 4 });
  });

  it('refuses a JIT ticket used a second time', async () => {
    const { body } = await client.request<{ ticket: string }>('pools/default/tickets', {
      token: adminToken,
      body: { name: 'ticket-probe' },
    });
    const publicKey = generateKeyPairSync('ed25519')
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const register = () =>
      client.request('agents/register', {
        token: body.ticket,
        body: { pool: 'default', name: 'ticket-probe', publicKey },
      });
    await register();
    const second = await register().catch((e: unknown) => e);
    expect(second).toBeInstanceOf(AuthError);
    expect(answeredStatus(second)).toBe(401);
    await client.request('pools/default/agents/ticket-probe', { method: 'DELETE', token: adminToken });
  });

  it('removes and replaces an agent container that dies mid-job', async () => {
    const queued = await queueRun(
      client,
      adminToken,
      'steps:\n- script: if [ "$SYSTEM_JOBATTEMPT" = 1 ]; then sleep 60; fi\n',
    );
    const victim = await waitFor(async () => {
      const view = (
        await client.request<{ jobs: Array<{ status: string; agentName: string | null }> }>(
          `runs/${queued.id}`,
          { token: adminToken },
        )
      ).body;
      const job = view.jobs[0];
      return job?.status === 'running' && job.agentName ? job.agentName : undefined;
    }, 'the job to run');
    const unit = fleet!.units().find((u) => u.name === victim)!;
    const [agentContainer] = await docker.listContainers({
      filters: { label: [`${LABEL.unit}=${unit.unitId}`, `${LABEL.role}=agent`] },
    });
    await docker.getContainer(agentContainer!.Id).kill();
    await waitFor(async () => exited.find((u) => u.unitId === unit.unitId), 'the fleet to notice the exit');
    expect(exited.find((u) => u.unitId === unit.unitId)?.exitCode).toBe(137);
    expect(
      (await docker.listContainers({ all: true, filters: { label: [`${LABEL.unit}=${unit.unitId}`] } }))
        .length,
    ).toBe(0);
    // The server fails (or retries) the attempt once the lease runs out; the run ends either way.
    const { run: done } = await finishRun(client, adminToken, queued.id, 30_000);
    expect(done.status).toBe('completed');
    await waitFor(
      async () => (await demand()).agents.some((a) => a.polling && !a.busy),
      'a replacement warm agent',
    );
  });

  it('fails a memory hog and a fork bomb on their own, with the reason, and the next job runs normally', async () => {
    const { run: done } = await run(`
jobs:
- job: hog
  steps:
  - script: node -e "const a = []; for (;;) a.push(Buffer.alloc(64 * 1024 * 1024, 1))"
- job: bomb
  timeoutInMinutes: 0.1
  steps:
  - bash: |
      bomb() { bomb | bomb & }
      bomb
      sleep 60
- job: after
  dependsOn: [hog, bomb]
  condition: always()
  steps:
  - script: echo still fine
`);
    const byName = Object.fromEntries(done.jobs.map((j) => [j.name, j]));
    expect(byName.hog!.result).toBe('failed');
    expect(byName.hog!.steps[0]!.reason).toMatch(/out of memory/);
    expect(byName.bomb!.result).toBe('failed');
    expect(byName.bomb!.reason).toMatch(/timed out/);
    expect(byName.after!.result).toBe('succeeded');
  });

  it('scales down idle agents only: a running job is left alone', async () => {
    fleet!.setLimits({ minIdle: 2 });
    await waitFor(
      async () => (await demand()).agents.filter((a) => a.polling && !a.busy).length >= 2,
      'two idle agents',
    );
    const queued = await queueRun(client, adminToken, 'steps:\n- script: sleep 5; echo survived\n');
    const busy = await waitFor(
      async () => (await demand()).agents.find((a) => a.busy)?.name,
      'the job to start',
    );
    fleet!.setLimits({ minIdle: 0 });
    await waitFor(
      async () =>
        fleet!.units().every((u) => u.name === busy || u.phase === 'stopping') && fleet!.units().length >= 1,
      'idle agents to be removed',
    );
    expect(scaledDown).not.toContain(busy);
    const { run: done, log } = await finishRun(client, adminToken, queued.id);
    expect(done.result).toBe('succeeded');
    expect(log).toContain('survived');
    fleet!.setLimits({ minIdle: 1 });
  });

  it('after ~20 jobs (passed, failed, canceled), stop leaves no container, network, volume or registration', async () => {
    const many = (n: number, script: string, extra = '') =>
      `jobs:\n${Array.from({ length: n }, (_, i) => `- job: j${i}\n${extra}  steps:\n  - script: ${script}\n`).join('')}`;
    const passing = queueRun(client, adminToken, many(8, 'echo ok'));
    const failing = queueRun(client, adminToken, many(3, 'exit 3'));
    const withService = queueRun(
      client,
      adminToken,
      many(1, 'busybox nc echo 8080', `  container: ${tinyImage}\n  services:\n    echo: ${tinyImage}\n`),
    );
    // Canceled at once: before or just after its agent starts, which then finds nothing to do.
    const coldRun = await queueRun(
      client,
      adminToken,
      many(1, 'busybox sleep 30', `  container: ${tinyImage}\n`),
    );
    await client.request(`runs/${coldRun.id}/cancel`, { method: 'POST', token: adminToken });
    const longRun = await queueRun(client, adminToken, many(1, 'sleep 30'));
    await waitFor(async () => {
      const view = (
        await client.request<{ jobs: Array<{ status: string }> }>(`runs/${longRun.id}`, { token: adminToken })
      ).body;
      return view.jobs[0]?.status === 'running';
    }, 'the long job to run');
    await client.request(`runs/${longRun.id}/cancel`, { method: 'POST', token: adminToken });
    const results = await Promise.all(
      [await passing, await failing, await withService, longRun, coldRun].map((r) =>
        finishRun(client, adminToken, r.id),
      ),
    );
    expect(results.map((r) => r.run.result)).toEqual([
      'succeeded',
      'failed',
      'succeeded',
      'canceled',
      'canceled',
    ]);
    expect(exited.length + fleet!.units().length).toBeGreaterThanOrEqual(20);

    // What `docker inspect` shows of every container the fleet made: no credential anywhere.
    const inspected = (await Promise.all(inspections)).flat();
    expect(inspected.length).toBeGreaterThanOrEqual(15);
    for (const c of inspected) {
      const visible = JSON.stringify([
        c.Config.Env,
        c.Config.Cmd,
        c.Config.Entrypoint,
        c.Config.Labels,
        c.Path,
        c.Args,
      ]);
      expect(visible).not.toMatch(/slw_(jit|adm|pat|agt)_/);
      expect(JSON.stringify(c)).not.toContain(adminToken);
      expect(c.HostConfig.Privileged).toBe(false);
      expect(c.HostConfig.SecurityOpt).toContain('no-new-privileges');
      // Of the host's, only the server's socket and the unit's own ticket directory.
      for (const m of c.Mounts) {
        if (m.Type === 'bind') expect([SOCKET_IN_CONTAINER, TICKET_DIR]).toContain(m.Destination);
        if (m.Destination === TICKET_DIR)
          expect(m.Source).toBe(join(dir, 'tickets', c.Config.Labels[LABEL.unit]!));
      }
    }
    // Root images' tickets went through host directories; none is left behind.
    expect(inspected.some((c) => c.Mounts.some((m) => m.Destination === TICKET_DIR))).toBe(true);

    await fleet!.stop();
    expect(fleet!.state).toBe('stopped');
    expect(await countLabelled(docker, `${LABEL.fleet}=${fleetId}`)).toEqual({
      containers: 0,
      networks: 0,
      volumes: 0,
    });
    expect(await countLabelled(docker, testLabel)).toEqual({ containers: 0, networks: 0, volumes: 0 });
    const agents = (
      await client.request<Array<{ name: string }>>('agents?pool=default', { token: adminToken })
    ).body;
    expect(agents.map((a) => a.name)).toEqual([]);
    expect(await readdir(join(dir, 'tickets'))).toEqual([]);
  }, 120_000);
});
