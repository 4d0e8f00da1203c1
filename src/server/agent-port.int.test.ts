import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  killAll,
  type Proc,
  runCli,
  spawnAgentAt,
  spawnCli,
  startTestServer,
  type TestServer,
} from '../test-support/harness.js';

/**
 * Everything an agent does in a run, each over its own route: the workspace, a cache restore
 * and save, an artifact published by one job and downloaded by the next, logs, completion.
 */
const PIPELINE = `
jobs:
- job: produce
  steps:
  - cache:
      key: 'deps | input.txt'
      path: deps
      cacheHitVar: HIT
  - bash: |
      echo "hit=$(HIT)"
      echo "workspace says: $(cat input.txt)"
      mkdir -p deps out
      echo "$(MARK)" > deps/mark.txt
      echo "made by produce" > out/report.txt
  - publish: out/report.txt
    artifact: report
- job: consume
  dependsOn: produce
  steps:
  - download: current
    artifact: report
  - bash: |
      echo "downloaded: $(cat $(Pipeline.Workspace)/report/report.txt)"
`;

describe('an agent on the agent port (--agent-port) alone', () => {
  let ts: TestServer;
  let agent: Proc;

  beforeAll(async () => {
    ts = await startTestServer({ agentPort: 0 });
    const agentUrl = ts.server.agentUrl ?? '';
    agent = await spawnAgentAt(
      agentUrl,
      await ts.pat(),
      'agent-port-1',
      join(ts.dir, 'work', 'agent-port-1'),
    );
  });
  afterAll(async () => {
    await killAll();
    await ts?.stop();
  });

  it('runs whole pipelines: workspace, caches, artifacts, logs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-agent-port-ws-'));
    await writeFile(join(dir, 'azure-pipelines.yml'), PIPELINE);
    await writeFile(join(dir, 'input.txt'), 'from the workspace\n');
    onTestFinished(() => rm(dir, { recursive: true, force: true }));

    const first = await runCli(ts, ['--dir', dir, '--var', 'MARK=first']);
    expect(first.output).toContain('hit=false');
    expect(first.output).toContain('workspace says: from the workspace');
    expect(first.output).toMatch(/Saved \d+ files/);
    expect(first.output).toContain("Published artifact 'report'");
    expect(first.output).toContain('downloaded: made by produce');
    expect(first.code).toBe(0);

    // The second run restores what the first saved, through the same port.
    const second = await runCli(ts, ['--dir', dir, '--var', 'MARK=second']);
    expect(second.output).toContain('hit=true');
    expect(second.code).toBe(0);
    expect(agent.output()).toContain('"result":"succeeded"');
  });
});

describe('slipway server --agent-port / SLIPWAY_AGENT_PORT', () => {
  afterAll(killAll);

  it.each([
    ['the flag', ['--agent-port', '0'], {}],
    ['the variable', [], { SLIPWAY_AGENT_PORT: '0' }],
  ])('is set by %s; the port it prints serves agents and not the admin API', async (_how, args, env) => {
    const data = await mkdtemp(join(tmpdir(), 'slipway-agent-port-cli-'));
    const server = spawnCli(['server', '--port', '0', '--data', data, ...args], env);
    await server.waitFor(/Agent API on http:\/\/\S+/);
    const agentUrl = /Agent API on (http:\/\/\S+)/.exec(server.output())?.[1] ?? '';
    const mainUrl = /listening on (http:\/\/\S+)/.exec(server.output())?.[1] ?? '';
    expect(agentUrl).not.toBe(mainUrl);
    expect((await fetch(`${agentUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${agentUrl}/api/v1/agents/poll`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${agentUrl}/api/v1/runs`)).status).toBe(404);
    expect((await fetch(`${mainUrl}/api/v1/runs`)).status).toBe(401);
    server.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    await rm(data, { recursive: true, force: true });
  });
});
