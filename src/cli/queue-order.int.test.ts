import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runView } from '../protocol/schemas.js';
import {
  killAll,
  runCli,
  spawnAgent,
  spawnCli,
  startTestServer,
  type TestServer,
} from '../test-support/harness.js';

/** Four jobs, one of which demands what no agent has: the shape of pipeline the bug was found with. */
const PIPELINE = `
jobs:
- job: build
  steps:
  - bash: echo built
- job: lint
  steps:
  - bash: echo linted
- job: test
  dependsOn: build
  steps:
  - bash: echo tested
- job: gpu
  pool: { name: default, demands: [gpu-unobtainium] }
  steps:
  - bash: echo never
`;

describe('slipway run queued before any agent has registered', () => {
  let ts: TestServer;
  beforeEach(async () => {
    ts = await startTestServer();
  });
  afterEach(async () => {
    await killAll();
    await ts.stop();
  });

  it('says what it waits for, then ends once agents arrive: the unservable job fails, the rest succeed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-order-'));
    await writeFile(join(dir, 'azure-pipelines.yml'), PIPELINE);
    const run = spawnCli(['run', '--dir', dir], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
    await run.waitFor(/no agent and no fleet serve pool 'default'/);

    await spawnAgent(ts, 'late-1');
    await spawnAgent(ts, 'late-2');

    // Hang guard only: the run must end on its own.
    const code = await Promise.race([run.exited, new Promise((r) => setTimeout(() => r('hung'), 45_000))]);
    expect(code, run.output()).toBe(1);
    const { body } = await ts.client.request<unknown[]>('runs?limit=1', { token: ts.adminToken });
    const view = runView.parse(body[0]);
    expect(view.status).toBe('completed');
    const byName = Object.fromEntries(view.jobs.map((j) => [j.name, j]));
    expect(byName.gpu).toMatchObject({ result: 'failed' });
    expect(byName.gpu!.reason).toContain('gpu-unobtainium');
    for (const name of ['build', 'lint', 'test']) expect(byName[name]).toMatchObject({ result: 'succeeded' });
  });

  it('fails a job on a pool nothing serves after the pool’s --queue-timeout, and refuses a bad duration', async () => {
    const env = { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken };
    const bad = spawnCli(['pool', 'create', 'nobody', '--queue-timeout', 'soon'], env);
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toContain("--queue-timeout 'soon': expected a duration");
    const created = spawnCli(['pool', 'create', 'nobody', '--queue-timeout', '1s'], env);
    expect(await created.exited, created.output()).toBe(0);

    const dir = await mkdtemp(join(tmpdir(), 'slipway-order-'));
    await writeFile(join(dir, 'azure-pipelines.yml'), 'pool: nobody\nsteps:\n- bash: echo never\n');
    const { code, output } = await runCli(ts, ['--dir', dir]);
    expect(code).toBe(1);
    expect(output).toContain(
      "no agent and no fleet serve pool 'nobody': the job waited 1s, the pool's queue timeout",
    );
  });
});
