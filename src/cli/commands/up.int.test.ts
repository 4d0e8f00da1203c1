import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { countLabelled, removeLabelled } from '../../fleet/fleet-test-support.js';
import { CLI, killAll, spawnCli } from '../../test-support/harness.js';

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
    // Without --cpus and --memory, agent containers are still limited.
    expect(up.output()).toMatch(/at most 4 agents of \d CPUs? and [\d.]+ GiB each/);
    for (const c of await docker.listContainers({ all: true, filters: { label: [label] } })) {
      // A one-job container may finish and be removed between the listing and this look at it.
      const info = await docker
        .getContainer(c.Id)
        .inspect()
        .catch((e: { statusCode?: number }) => {
          if (e.statusCode === 404) return undefined;
          throw e;
        });
      if (!info) continue;
      const { HostConfig } = info;
      expect(HostConfig.Memory).toBeGreaterThan(0);
      expect(HostConfig.NanoCpus).toBeGreaterThan(0);
    }

    up.kill('SIGTERM');
    expect(await up.exited, up.output()).toBe(0);
    expect(up.output()).toContain('Stopped.');
    expect(await countLabelled(docker, label)).toEqual({ containers: 0, networks: 0, volumes: 0 });
  });

  it('in a terminal: human log lines; a second up on its data directory exits 2 and leaves it whole; a clean stop', async () => {
    const data = join(await tempDir(), 'data');
    // `script` gives `up` a pseudo-terminal, as in a user's shell.
    const command = `${process.execPath} ${CLI} up --port 0 --data ${data} --label ${label}`;
    const first = spawn('script', ['-qefc', command, '/dev/null'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', SLIPWAY_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    first.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const exited = new Promise<number | null>((r) => first.on('close', r));
    let pid: number | undefined;
    try {
      for (let i = 0; i < 600 && !/Slipway is up/.test(output); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(output).toContain('Slipway is up');
      pid = Number((await readFile(join(data, 'server.lock'), 'utf8')).trim());
      const ids = async () =>
        (await docker.listContainers({ all: true, filters: { label: [label] } })).map((c) => c.Id).sort();
      for (let i = 0; i < 300 && (await ids()).length === 0; i++)
        await new Promise((r) => setTimeout(r, 100));
      // The warm pool settles first (a starting agent may be replaced): the same set twice, 1 s apart.
      let before = await ids();
      for (let i = 0; i < 30; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        const now = await ids();
        if (now.join() === before.join()) break;
        before = now;
      }
      expect(before.length).toBeGreaterThanOrEqual(1);

      const second = spawnCli(['up', '--port', '0', '--data', data, '--label', label]);
      expect(await second.exited, second.output()).toBe(2);
      expect(second.output()).toContain(`slipway: data directory ${data} in use by pid ${pid}`);
      // The first one keeps its containers, its socket and its agents: it still runs jobs.
      expect(await ids()).toEqual(before);
      expect(existsSync(join(data, 'agent.sock'))).toBe(true);
      const ws = await tempDir();
      await writeFile(join(ws, 'azure-pipelines.yml'), 'steps:\n- script: echo still serving\n');
      const run = spawnCli(['run', '--dir', ws, '--data', data]);
      expect(await run.exited, run.output()).toBe(0);

      expect(output).toMatch(/^\d\d:\d\d:\d\d info {2}server: server ready {2}url=http/m);
      expect(output).not.toContain('{"level"');

      process.kill(pid, 'SIGTERM');
      expect(await exited, output).toBe(0);
      expect(output).toContain('Stopped.');
      expect(output).not.toMatch(/^\s+at /m);
      expect(output).not.toMatch(/ (error|fatal) /);
    } finally {
      first.kill('SIGKILL');
      if (pid && first.exitCode === null) process.kill(pid, 'SIGKILL');
    }
  });

  it('slipway fleet without a server socket exits 2 and says how to get one', async () => {
    const data = await tempDir();
    await writeFile(join(data, 'admin.token'), 'slw_adm_unused\n');
    const fleet = spawnCli(['fleet', '--data', data, '--label', label]);
    expect(await fleet.exited).toBe(2);
    expect(fleet.output()).toContain(`no server socket at ${join(data, 'agent.sock')}`);
  });
});
