import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, spawnCli } from '../test-support/harness.js';

describe('--database / SLIPWAY_DATABASE', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-database-'));
  });
  afterAll(async () => {
    killAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('slipway server refuses postgres:// at start (exit 2), naming the flag, touching nothing', async () => {
    const data = join(dir, 'pg-server');
    const proc = spawnCli([
      'server',
      '--port',
      '0',
      '--data',
      data,
      '--database',
      'postgres://ci:hunter2@db/ci',
    ]);
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toMatch(
      /--database \(SLIPWAY_DATABASE\): 'postgres:' databases are not supported yet/,
    );
    expect(proc.output()).toMatch(/PostgreSQL arrives with the scale-out work/);
    expect(proc.output()).not.toContain('hunter2');
    expect(existsSync(data)).toBe(false);
  });

  it('slipway up refuses SLIPWAY_DATABASE=postgres:// before Docker and the images (exit 2)', async () => {
    const data = join(dir, 'pg-up');
    const proc = spawnCli(['up', '--port', '0', '--data', data], { SLIPWAY_DATABASE: 'postgresql://db/ci' });
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toMatch(
      /--database \(SLIPWAY_DATABASE\): 'postgresql:' databases are not supported yet/,
    );
    expect(proc.output()).not.toMatch(/Image /);
    expect(existsSync(data)).toBe(false);
  });

  it('slipway server keeps its store where sqlite:<relative path> says, from the current directory', async () => {
    const proc = spawnCli(
      ['server', '--port', '0', '--data', 'data', '--database', 'sqlite:elsewhere/ci.db'],
      // The flag wins over the variable.
      { SLIPWAY_DATABASE: 'postgres://db/ci' },
      dir,
    );
    await proc.waitFor(/Admin token/);
    // One answered request: the server's event loop has run past setting up its signal handlers.
    const url = /listening on (\S+)/.exec(proc.output())![1]!;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    proc.kill('SIGTERM');
    expect(await proc.exited, proc.output()).toBe(0);
    expect(statSync(join(dir, 'elsewhere', 'ci.db')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, 'data', 'admin.token'))).toBe(true);
    expect(existsSync(join(dir, 'data', 'slipway.db'))).toBe(false);
  });

  it('an empty SLIPWAY_DATABASE means the default, <data>/slipway.db', async () => {
    const proc = spawnCli(['server', '--port', '0', '--data', 'empty-var'], { SLIPWAY_DATABASE: '' }, dir);
    await proc.waitFor(/Admin token/);
    const url = /listening on (\S+)/.exec(proc.output())![1]!;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    proc.kill('SIGTERM');
    expect(await proc.exited, proc.output()).toBe(0);
    expect(existsSync(join(dir, 'empty-var', 'slipway.db'))).toBe(true);
  });
});
