import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { countLabelled, removeLabelled } from '../../fleet/fleet-test-support.js';
import { killAll, spawnCli } from '../../test-support/harness.js';

const runId = randomBytes(5).toString('hex');
const label = `slipway.test=${runId}`;
const docker = new Docker();
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slw-up-'));
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  await killAll();
  await removeLabelled(docker, label);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('slipway up', () => {
  it('serves runs with its own fleet, then SIGTERM drains it, removes its containers and exits 0', async () => {
    const data = join(await tempDir(), 'data');
    const up = spawnCli(['up', '--port', '0', '--data', data, '--label', label], {
      SLIPWAY_LOG_LEVEL: 'warn',
    });
    await up.waitFor(/Slipway is up: (http:\/\/\S+)/, 60_000);
    const url = /Slipway is up: (http:\/\/\S+)/.exec(up.output())![1]!;
    expect(up.output()).toContain(`Admin token: ${join(data, 'admin.token')}`);

    const ws = await tempDir();
    await writeFile(join(ws, 'azure-pipelines.yml'), 'steps:\n- script: echo "hello from $(Agent.Name)"\n');
    // Like a user in another terminal: the URL, and the admin token from the data directory.
    const run = spawnCli(['run', '--dir', ws, '--data', data], { SLIPWAY_URL: url });
    expect(await run.exited, run.output()).toBe(0);
    expect(run.output()).toMatch(/hello from default-\d+/);
    expect((await countLabelled(docker, label)).containers).toBeGreaterThanOrEqual(1);

    up.kill('SIGTERM');
    expect(await up.exited, up.output()).toBe(0);
    expect(up.output()).toContain('Stopped.');
    expect(await countLabelled(docker, label)).toEqual({ containers: 0, networks: 0, volumes: 0 });
  });

  it('slipway fleet without a server socket exits 2 and says how to get one', async () => {
    const data = await tempDir();
    await writeFile(join(data, 'admin.token'), 'slw_adm_unused\n');
    const fleet = spawnCli(['fleet', '--data', data, '--label', label]);
    expect(await fleet.exited).toBe(2);
    expect(fleet.output()).toContain(`no server socket at ${join(data, 'agent.sock')}`);
  });
});
