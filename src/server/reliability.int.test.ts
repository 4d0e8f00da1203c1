import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../protocol/client.js';
import { type RunView, runView } from '../protocol/schemas.js';
import {
  freePort,
  killAll,
  spawnAgent,
  spawnAgentAt,
  spawnCli,
  spawnServer,
  startTestServer,
  type TestServer,
} from '../test-support/harness.js';
import { TcpProxy } from '../test-support/tcp-proxy.js';

async function pipeline(yaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-ws-'));
  await writeFile(join(dir, 'azure-pipelines.yml'), yaml);
  return dir;
}

async function latestRun(client: ApiClient, token: string): Promise<RunView> {
  const { body } = await client.request<unknown[]>('runs?limit=1', { token });
  return runView.parse(body[0]);
}

async function waitForRun(client: ApiClient, token: string, ok: (r: RunView) => boolean, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const run = await latestRun(client, token).catch(() => undefined);
    if (run && ok(run)) return run;
    if (Date.now() > end) throw new Error(`run never reached the expected state: ${JSON.stringify(run)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const LINES = 'for i in 1 2 3 4 5 6 7 8 9 10; do echo "line $i"; sleep 0.3; done';

describe('faults with an in-process server (lease 3 s)', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer({ leaseTtlSeconds: 3 });
  });
  afterEach(killAll);
  afterAll(async () => ts.stop());

  it('fails the attempt as "agent lost" when the agent is killed -9, keeping the logs up to the kill', async () => {
    const agent = await spawnAgent(ts, 'victim');
    const dir = await pipeline(`steps:\n- bash: |\n    echo "before the kill"\n    sleep 60\n`);
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    await run.waitFor(/│ before the kill/);
    const killedAt = Date.now();
    agent.kill('SIGKILL');
    expect(await run.exited).toBe(1);
    const lostAfter = Date.now() - killedAt;
    const final = await latestRun(ts.client, ts.adminToken);
    expect(final.jobs[0]!.result).toBe('failed');
    expect(final.jobs[0]!.reason).toMatch(/^agent lost/);
    expect(run.output()).toContain('before the kill');
    const log = await ts.client.fetch(`jobs/${final.jobs[0]!.id}/log`, { token: ts.adminToken });
    expect(await log.text()).toContain('before the kill');
    console.log(`agent kill -9 → "agent lost": ${lostAfter} ms (lease 3 s)`);
  });

  it('runs a lost job again as a new attempt when the pool allows retries', async () => {
    await ts.client.request('pools', {
      token: ts.adminToken,
      body: { name: 'retrying', settings: { retryCountOnAgentLoss: 1 } },
    });
    const pat = await ts.pat();
    const first = await spawnAgentAt(ts.url, pat, 'r1', join(ts.dir, 'w', 'r1'), {
      env: { AZP_POOL: 'retrying' },
    });
    const dir = await pipeline(
      `pool: retrying\nsteps:\n- bash: |\n    echo "attempt $SYSTEM_JOBATTEMPT"\n    if [ "$SYSTEM_JOBATTEMPT" = 1 ]; then sleep 60; fi\n`,
    );
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    await run.waitFor(/│ attempt 1/);
    first.kill('SIGKILL');
    await spawnAgentAt(ts.url, await ts.pat(), 'r2', join(ts.dir, 'w', 'r2'), {
      env: { AZP_POOL: 'retrying' },
    });
    expect(await run.exited).toBe(0);
    expect(run.output()).toMatch(/agent lost.*queued again/);
    expect(run.output()).toContain('attempt 2');
    const final = await latestRun(ts.client, ts.adminToken);
    expect(final.jobs[0]).toMatchObject({ result: 'succeeded', attempt: 2, agentName: 'r2' });
  });

  it('kills a step that ignores SIGTERM after the grace period and reports the job canceled', async () => {
    await spawnAgent(ts, 'stubborn', { args: ['--kill-grace', '1'] });
    const dir = await pipeline(`steps:\n- bash: |\n    trap '' TERM\n    echo ignoring TERM\n    sleep 60\n`);
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    await run.waitFor(/│ ignoring TERM/);
    const t0 = Date.now();
    const number = (await latestRun(ts.client, ts.adminToken)).number;
    await ts.client.request(`runs/${number}/cancel`, { method: 'POST', token: ts.adminToken });
    expect(await run.exited).toBe(1);
    expect(Date.now() - t0).toBeLessThan(15_000);
    const final = await latestRun(ts.client, ts.adminToken);
    expect(final.result).toBe('canceled');
    expect(final.jobs[0]!.steps[0]!.result).toBe('canceled');
  });

  it('reports a job that outlives its timeout as timed out, not as a script failure', async () => {
    await spawnAgent(ts, 'slow');
    const dir = await pipeline(
      'jobs:\n- job: slow\n  timeoutInMinutes: 0.02\n  steps:\n  - bash: sleep 30\n',
    );
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    expect(await run.exited).toBe(1);
    const final = await latestRun(ts.client, ts.adminToken);
    expect(final.jobs[0]!.result).toBe('failed');
    expect(final.jobs[0]!.reason).toMatch(/timed out after/);
  });
});

describe('network cut between agent and server', () => {
  let ts: TestServer;
  let proxy: TcpProxy;
  beforeAll(async () => {
    // Long enough that a 1.2 s cut plus reconnect backoff on a loaded machine stays inside it.
    ts = await startTestServer({ leaseTtlSeconds: 6 });
  });
  afterEach(async () => {
    await killAll();
    await proxy?.stop();
  });
  afterAll(async () => ts.stop());

  it('shorter than the lease: the job finishes and every log line arrives once, in order', async () => {
    proxy = new TcpProxy({ host: '127.0.0.1', port: Number(new URL(ts.url).port) });
    const viaProxy = await proxy.start();
    await spawnAgentAt(viaProxy, await ts.pat(), 'cut-short', join(ts.dir, 'w', 'short'));
    const dir = await pipeline(`steps:\n- bash: '${LINES}'\n`);
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    await run.waitFor(/line 2/);
    proxy.cut();
    await new Promise((r) => setTimeout(r, 1_200));
    proxy.restore();
    expect(await run.exited).toBe(0);
    const lines = run.output().match(/line \d+/g);
    expect(lines).toEqual(Array.from({ length: 10 }, (_, i) => `line ${i + 1}`));
  });

  it('longer than the lease: the server fails the attempt, the agent stops the job and exits, late writes are refused', async () => {
    proxy = new TcpProxy({ host: '127.0.0.1', port: Number(new URL(ts.url).port) });
    const viaProxy = await proxy.start();
    const agent = await spawnAgentAt(viaProxy, await ts.pat(), 'cut-long', join(ts.dir, 'w', 'long'));
    const dir = await pipeline(`steps:\n- bash: '${LINES}; sleep 30'\n`);
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    await run.waitFor(/line 2/);
    proxy.cut();
    expect(await run.exited).toBe(1);
    const final = await latestRun(ts.client, ts.adminToken);
    expect(final.jobs[0]!.reason).toMatch(/^agent lost/);
    proxy.restore();
    expect(await agent.exited).toBe(3);
    expect(agent.output()).toMatch(/lease lost/);
    const log = await (
      await ts.client.fetch(`jobs/${final.jobs[0]!.id}/log`, { token: ts.adminToken })
    ).text();
    expect(log).not.toMatch(/line 9/);
  });
});

describe('coordinator killed and restarted mid-run', () => {
  it('keeps queued and running work, agents reconnect, logs stay complete and ordered, the client keeps streaming', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-restart-'));
    const dataDir = join(dir, 'data');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let server = await spawnServer(dataDir, port, ['--lease-ttl', '5']);
    try {
      const admin = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
      const client = new ApiClient(url);
      const pat = (
        await client.request<{ token: string }>('tokens', {
          token: admin,
          body: { scopes: ['agent:register'] },
        })
      ).body.token;
      const agent = await spawnAgentAt(url, pat, 'survivor', join(dir, 'work'));
      const ws = await pipeline(
        `jobs:\n- job: first\n  steps:\n  - bash: '${LINES}'\n- job: second\n  steps:\n  - bash: echo second ran\n`,
      );
      const run = spawnCli(['run', '--dir', ws], { SLIPWAY_URL: url, SLIPWAY_TOKEN: admin });
      await run.waitFor(/line 3/);
      server.kill('SIGKILL');
      expect(await server.exited).toBe('SIGKILL');
      await new Promise((r) => setTimeout(r, 1_000));
      const restartedAt = Date.now();
      server = await spawnServer(dataDir, port, ['--lease-ttl', '5']);
      // Reconnected: the agent's next poll or heartbeat reaches the new process.
      await waitForRun(
        client,
        admin,
        (r) => r.jobs.some((j) => j.name === 'second' && j.status !== 'queued'),
        30_000,
      );
      console.log(`coordinator restart → agent working again: ${Date.now() - restartedAt} ms`);
      expect(await run.exited).toBe(0);
      const lines = run.output().match(/line \d+/g);
      expect(lines).toEqual(Array.from({ length: 10 }, (_, i) => `line ${i + 1}`));
      expect(run.output()).toContain('second ran');
      const final = await latestRun(client, admin);
      expect(final.jobs.map((j) => [j.result, j.attempt])).toEqual([
        ['succeeded', 1],
        ['succeeded', 1],
      ]);
      agent.kill();
      expect(await agent.exited).toBe(0);
    } finally {
      await killAll();
    }
  });
});
