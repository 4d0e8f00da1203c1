import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runView } from '../protocol/schemas.js';
import { killAll, spawnAgent, spawnCli, startTestServer, type TestServer } from '../test-support/harness.js';

async function pipeline(yaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-ws-'));
  await writeFile(join(dir, 'azure-pipelines.yml'), yaml);
  return dir;
}

async function agents(ts: TestServer) {
  const { body } = await ts.client.request<{ name: string; busy: boolean }[]>('agents', {
    token: ts.adminToken,
  });
  return body;
}

async function runs(ts: TestServer) {
  const { body } = await ts.client.request<unknown[]>('runs', { token: ts.adminToken });
  return body.map((r) => runView.parse(r));
}

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('agent process lifecycle', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer();
  });
  afterEach(killAll);
  afterAll(async () => {
    await ts.stop();
  });

  it('exits 2 with a clear message when the URL or token is missing', async () => {
    const noUrl = spawnCli(['agent', 'run'], { AZP_TOKEN: 'x' });
    expect(await noUrl.exited).toBe(2);
    expect(noUrl.output()).toMatch(/url/i);
    const noToken = spawnCli(['agent', 'run'], { AZP_URL: ts.url });
    expect(await noToken.exited).toBe(2);
    expect(noToken.output()).toMatch(/token is needed/);
  });

  it('with --once takes exactly one job, deregisters and exits 0', async () => {
    const agent = await spawnAgent(ts, 'once-1', { args: ['--once'] });
    const dir = await pipeline(
      'jobs:\n- job: a\n  steps:\n  - bash: echo one\n- job: b\n  steps:\n  - bash: echo two\n',
    );
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    expect(await agent.exited).toBe(0);
    expect((await agents(ts)).map((a) => a.name)).not.toContain('once-1');
    const [latest] = await until(
      () => runs(ts),
      (r) => r[0]?.jobs.some((j) => j.status === 'completed') ?? false,
    );
    expect(latest!.jobs.filter((j) => j.status === 'completed')).toHaveLength(1);
    // The other job waits for an agent; a second one-shot agent finishes the run.
    const second = await spawnAgent(ts, 'once-2', { args: ['--once'] });
    expect(await run.exited).toBe(0);
    expect(await second.exited).toBe(0);
  });

  it('runs ten independent jobs on two agents, each exactly once', async () => {
    const a1 = await spawnAgent(ts, 'pair-1');
    const a2 = await spawnAgent(ts, 'pair-2');
    const jobs = Array.from(
      { length: 10 },
      (_, i) => `- job: j${i}\n  steps:\n  - bash: echo "ran j${i} on $AGENT_NAME" && sleep 0.2\n`,
    );
    const dir = await pipeline(`jobs:\n${jobs.join('')}`);
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    expect(await run.exited).toBe(0);
    const [latest] = await runs(ts);
    expect(latest!.jobs.map((j) => [j.result, j.attempt])).toEqual(Array(10).fill(['succeeded', 1]));
    expect(new Set(latest!.jobs.map((j) => j.agentName))).toEqual(new Set(['pair-1', 'pair-2']));
    for (let i = 0; i < 10; i++)
      expect(run.output().match(new RegExp(`│ ran j${i} on`, 'g'))).toHaveLength(1);
    a1.kill();
    a2.kill();
    expect([await a1.exited, await a2.exited]).toEqual([0, 0]);
  });

  it('on SIGTERM cancels the running job, reports it, deregisters and exits', async () => {
    const agent = await spawnAgent(ts, 'term-1');
    const dir = await pipeline(
      "steps:\n- bash: |\n    echo started\n    trap 'echo stopping; exit 143' TERM\n    sleep 60 & wait\n",
    );
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    await run.waitFor(/│ started/);
    agent.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain('stopping');
    const [latest] = await runs(ts);
    expect(latest!.jobs[0]!.result).toBe('canceled');
    expect((await agents(ts)).map((a) => a.name)).not.toContain('term-1');
  });

  it('cancels a run from `slipway cancel`: the step gets SIGTERM, the run ends canceled with exit 1', async () => {
    const agent = await spawnAgent(ts, 'cancel-1');
    const dir = await pipeline(
      "steps:\n- bash: |\n    trap 'echo got TERM; exit 143' TERM\n    echo waiting\n    sleep 60 & wait\n",
    );
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    await run.waitFor(/│ waiting/);
    const [latest] = await runs(ts);
    const cancel = spawnCli(['cancel', String(latest!.number)], {
      SLIPWAY_URL: ts.url,
      SLIPWAY_TOKEN: ts.adminToken,
    });
    expect(await cancel.exited).toBe(0);
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain('got TERM');
    const [after] = await runs(ts);
    expect(after!.result).toBe('canceled');
    expect(after!.jobs[0]!.steps[0]!.result).toBe('canceled');
    agent.kill();
    expect(await agent.exited).toBe(0);
  });

  it('cancels the run when the user presses Ctrl-C in `slipway run`, and shows it stop', async () => {
    await spawnAgent(ts, 'ctrlc-1');
    const dir = await pipeline(
      "steps:\n- bash: |\n    trap 'echo step got TERM; exit 143' TERM\n    echo waiting\n    sleep 60 & wait\n",
    );
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    await run.waitFor(/│ waiting/);
    run.kill('SIGINT');
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain('Canceling the run');
    expect(run.output()).toContain('step got TERM');
    const [after] = await runs(ts);
    expect(after!.result).toBe('canceled');
  });

  it("keeps the registration token out of every step's environment and the agent's /proc environ", async () => {
    const tokenFile = join(ts.dir, 'agent-token');
    const pat = await ts.pat();
    await writeFile(tokenFile, pat, { mode: 0o600 });
    const agent = spawnCli(['agent', 'run', '--once'], {
      AZP_URL: ts.url,
      AZP_TOKEN_FILE: tokenFile,
      AZP_AGENT_NAME: 'hidden-1',
      AZP_WORK: join(ts.dir, 'work', 'hidden'),
    });
    const dir = await pipeline(
      'steps:\n- bash: |\n    env | grep -c -E "^AZP_TOKEN=|slw_(adm|pat|jit|agt|job)_" || true\n    cat /proc/$PPID/environ | tr "\\0" "\\n" | grep -c slw_ || true\n',
    );
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    expect(await run.exited).toBe(0);
    expect(await agent.exited).toBe(0);
    expect(run.output()).not.toContain(pat);
    expect(run.output().match(/│ 0$/gm)).toHaveLength(2);
  });
});
