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

  it('slipway server with a postgres:// database that does not answer exits 3, never echoing the password', async () => {
    const data = join(dir, 'pg-server');
    const proc = spawnCli(
      [
        'server',
        '--port',
        '0',
        '--data',
        data,
        // What a server on PostgreSQL needs beside it, so the refusal is the database's.
        '--blobs',
        `file:${join(dir, 'pg-blobs')}`,
        '--database',
        // Nothing listens on port 1 of loopback.
        'postgres://ci:hunter2@127.0.0.1:1/ci?connect_timeout_ms=2000',
      ],
      { SLIPWAY_SECRET_KEY: '11'.repeat(32) },
    );
    expect(await proc.exited, proc.output()).toBe(3);
    expect(proc.output()).toMatch(/the database is unreachable/);
    expect(proc.output()).not.toContain('hunter2');
  });

  it('slipway up refuses a postgres:// URL with a bad option before Docker and the images (exit 2)', async () => {
    const data = join(dir, 'pg-up');
    const proc = spawnCli(['up', '--port', '0', '--data', data], {
      SLIPWAY_DATABASE: 'postgresql://ci:hunter2@db/ci?pool_max=none',
    });
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toMatch(
      /--database \(SLIPWAY_DATABASE\): pool_max must be a positive whole number/,
    );
    expect(proc.output()).not.toContain('hunter2');
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
