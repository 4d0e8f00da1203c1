import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentView, fleetView, queueView, runView } from '../protocol/schemas.js';
import {
  killAll,
  runCli,
  spawnAgent,
  spawnCli,
  startTestServer,
  type TestServer,
} from '../test-support/harness.js';

/** A workspace directory holding `azure-pipelines.yml` with `yaml`. */
async function workspace(yaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-views-ws-'));
  await writeFile(join(dir, 'azure-pipelines.yml'), yaml);
  return dir;
}

const PIPELINE = `
jobs:
- job: build
  steps:
  - script: echo building the thing
    displayName: Build it
- job: test
  dependsOn: build
  steps:
  - script: echo "testing, then failing"; exit 3
    displayName: Test it
- job: gpu
  pool: { name: default, demands: [gpu] }
  steps:
  - script: echo never
`;

describe('the CLI views against a real server and a real agent', () => {
  let ts: TestServer;
  const cli = async (...args: string[]) => {
    const p = spawnCli(args, { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    return { code: await p.exited, output: p.output() };
  };

  beforeAll(async () => {
    ts = await startTestServer();
    await spawnAgent(ts, 'viewer-1');
    const first = await runCli(ts, ['--dir', await workspace(PIPELINE)]);
    expect(first.code).toBe(1);
  });
  afterAll(async () => {
    await killAll();
    await ts.stop();
  });

  it('lists runs, filtered, as text and as JSON', async () => {
    const text = await cli('runs');
    expect(text.code).toBe(0);
    expect(text.output).toMatch(/^RUN\s+STATUS\s+PIPELINE\s+BRANCH\s+REASON\s+DURATION\s+CREATED/);
    expect(text.output).toMatch(/#1\s+failed\s+/);
    const json = await cli('runs', '--status', 'failed', '--json');
    expect(json.code).toBe(0);
    expect(
      runView
        .array()
        .parse(JSON.parse(json.output))
        .map((r) => r.number),
    ).toContain(1);
    expect(JSON.parse((await cli('runs', '--status', 'succeeded', '--json')).output)).toEqual([]);
    const bad = await cli('runs', '--status', 'green');
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('--status: expected one of queued, running, completed, succeeded');
    expect((await cli('runs', '--limit', 'lots')).code).toBe(2);
  });

  it('shows a run with its jobs, steps and reasons', async () => {
    const { code, output } = await cli('status', '1');
    expect(code).toBe(0);
    expect(output).toMatch(/^Run #1 failed in /);
    expect(output).toMatch(/✔ build\s+succeeded .* on viewer-1/);
    expect(output).toMatch(/✘ Test it .*\(exit code 3\)/);
    expect(output).toContain("no agent in pool 'default' meets the demands of job 'gpu': gpu");
    expect(runView.parse(JSON.parse((await cli('status', '1', '--json')).output)).number).toBe(1);
    const missing = await cli('status', '999');
    expect(missing.code).toBe(2);
    expect(missing.output).toContain('run 999 not found');
  });

  it("prints a job's log, or every job's, and names the jobs when one does not exist", async () => {
    const one = await cli('logs', '1', 'test');
    expect(one.code).toBe(0);
    expect(one.output).toContain('testing, then failing');
    expect(one.output).not.toContain('building the thing');
    const all = await cli('logs', '1');
    expect(all.output).toMatch(
      /── build \(attempt 1\) ──[\s\S]*building the thing[\s\S]*── test \(attempt 1\) ──/,
    );
    expect(all.output).toContain('── gpu: not started (completed) ──');
    const json = (await cli('logs', '1', 'build', '--json')).output;
    expect(JSON.parse(json)).toMatchObject({
      job: 'build',
      attempt: 1,
      log: expect.stringContaining('building'),
    });
    const nope = await cli('logs', '1', 'deploy');
    expect(nope.code).toBe(2);
    expect(nope.output).toContain("run #1 has no job 'deploy'; its jobs: build, test, gpu");
  });

  it('re-runs only the failed jobs, and follows the new run to its end, exiting by its result', async () => {
    const again = await cli('rerun', '1', '--failed');
    expect(again.code).toBe(0);
    const number = Number(
      /Run #(\d+) queued: a re-run of #1 \(only test, gpu; the others kept\)/.exec(again.output)?.[1],
    );
    expect(number).toBeGreaterThan(1);
    const follow = await cli('logs', String(number), 'test', '--follow');
    expect(follow.code).toBe(1);
    expect(follow.output).toContain('testing, then failing');
    const status = runView.parse(JSON.parse((await cli('status', String(number), '--json')).output));
    expect(status.rerunOf).toEqual({ id: expect.any(String), number: 1, failedOnly: true });
    expect(status.jobs.find((j) => j.name === 'build')).toMatchObject({
      result: 'succeeded',
      reason: 'kept from run 1',
    });
    const json = await cli('rerun', String(number), '--json');
    expect(runView.parse(JSON.parse(json.output)).rerunOf).toMatchObject({ number, failedOnly: false });
  });

  it('shows agents by state and the queue with why a job waits', async () => {
    const agents = await cli('agents');
    expect(agents.code).toBe(0);
    expect(agents.output).toMatch(/viewer-1\s+default\s+(idle|busy)/);
    const parsed = JSON.parse((await cli('agents', '--pool', 'default', '--json')).output);
    expect(agentView.array().parse(parsed.agents)[0]!.name).toBe('viewer-1');
    expect(fleetView.array().parse(parsed.fleets)).toEqual([]);

    await ts.client.createPool({ name: 'lonely' }, { token: ts.adminToken });
    await ts.client.createRun(
      { pipeline: { file: 'p.yml', content: 'pool: lonely\nsteps: [{ script: a }]\n' } },
      { token: ts.adminToken },
    );
    const queue = await cli('queue');
    expect(queue.code).toBe(0);
    expect(queue.output).toMatch(
      /#\d+\s+job\s+lonely\s+\S+\s+unserved\s+no agent and no fleet serve pool 'lonely'/,
    );
    expect(queue.output).toContain('Failed without an agent (last 24 hours):');
    const json = queueView.parse(JSON.parse((await cli('queue', '--pool', 'lonely', '--json')).output));
    expect(json.queued.map((q) => q.kind)).toEqual(['unserved']);
  });

  it('exits 3 when the server cannot be reached', async () => {
    const p = spawnCli(['runs'], { SLIPWAY_URL: 'http://127.0.0.1:1', SLIPWAY_TOKEN: 'x' });
    expect(await p.exited).toBe(3);
    expect(p.output()).toContain('cannot reach http://127.0.0.1:1');
  });
});
