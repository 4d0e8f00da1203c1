import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../protocol/client.js';
import { freePort, killAll, spawnAgentAt, spawnCli, spawnServer } from '../test-support/harness.js';
import { createTestDatabase, type TestDatabase } from '../test-support/postgres.js';

describe('slipway server --database postgres://…', () => {
  let dir: string;
  let db: TestDatabase;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-pg-cli-'));
    db = await createTestDatabase('slipway_cli');
  });
  afterAll(async () => {
    await killAll();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs a real job with an agent process, and a server killed and started again still has the run, its log and the agent', async () => {
    const dataDir = join(dir, 'data');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const database = `${db.url}?pool_max=4&statement_timeout_ms=20000`;
    // PostgreSQL is for replicas: the server is told where shared blobs are and the shared key.
    const args = ['--database', database, '--blobs', `file:${join(dir, 'blobs')}`];
    const serverEnv = { SLIPWAY_SECRET_KEY: '22'.repeat(32) };
    let server = await spawnServer(dataDir, port, args, serverEnv);
    const admin = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    const client = new ApiClient(url);
    const pat = (
      await client.request<{ token: string }>('tokens', {
        token: admin,
        body: { scopes: ['agent:register'] },
      })
    ).body.token;
    const agent = await spawnAgentAt(url, pat, 'pg-agent', join(dir, 'work'));
    const ws = join(dir, 'ws');
    await mkdir(ws);
    await writeFile(
      join(ws, 'azure-pipelines.yml'),
      // The script's text is not the line it prints: what the log holds is the job's output.
      'jobs:\n- job: hello\n  steps:\n  - bash: X=postgres; echo "stored in $X"\n',
    );
    const env = { SLIPWAY_URL: url, SLIPWAY_TOKEN: admin };
    const run = spawnCli(['run', '--dir', ws], env);
    expect(await run.exited, run.output()).toBe(0);
    expect(run.output()).toContain('stored in postgres');
    // The store is the database, not a file in the data directory.
    expect(existsSync(join(dataDir, 'slipway.db'))).toBe(false);

    // Killed, not stopped: what was committed is all the next server has.
    server.kill('SIGKILL');
    expect(await server.exited).toBe('SIGKILL');
    server = await spawnServer(dataDir, port, args, serverEnv);
    const status = spawnCli(['status', '1', '--json'], env);
    expect(await status.exited, status.output()).toBe(0);
    const view = JSON.parse(status.output()) as { number: number; status: string; result: string };
    expect(view).toMatchObject({ number: 1, status: 'completed', result: 'succeeded' });
    const logs = spawnCli(['logs', '1'], env);
    expect(await logs.exited, logs.output()).toBe(0);
    expect(logs.output()).toContain('stored in postgres');
    // The agent was there before the restart and is still known after it.
    const agents = spawnCli(['agents', '--json'], env);
    expect(await agents.exited).toBe(0);
    expect(agents.output()).toContain('pg-agent');
    // The agent goes first, so no long poll of its holds the server's stop.
    agent.kill('SIGKILL');
    await agent.exited;
    server.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });
});
