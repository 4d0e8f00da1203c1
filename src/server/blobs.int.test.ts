import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sha256Hex } from '../shared/ids.js';
import { silentLogger } from '../shared/logger.js';
import { startTestServer, type TestServer } from '../test-support/harness.js';
import { startServer } from './server.js';

let ts: TestServer;
beforeAll(async () => {
  ts = await startTestServer();
});
afterAll(() => ts.stop());

it('a damaged artifact is not served as if whole: the download fails instead of ending', async () => {
  const run = await ts.client.request<{ id: string }>('runs', {
    token: ts.adminToken,
    body: { pipeline: { file: 'p.yml', content: 'pool: default\nsteps:\n- script: echo hi\n' } },
  });
  const content = Buffer.alloc(512 * 1024, 9);
  await ts.server.context.artifacts.put(run.body.id, 'report', content);
  const url = `${ts.url}/api/v1/runs/${run.body.id}/artifacts/report`;
  const headers = { authorization: `Bearer ${ts.adminToken}` };
  expect(Buffer.from(await (await fetch(url, { headers })).arrayBuffer()).equals(content)).toBe(true);

  const fh = await open(join(ts.server.dataDir, 'blobs', 'artifacts', run.body.id, 'report.tar.gz'), 'r+');
  await fh.write(Buffer.from([1]), 0, 1, 300_000);
  await fh.close();
  const damaged = await fetch(url, { headers });
  await expect(damaged.arrayBuffer()).rejects.toThrow();
});

it('a server upgraded in place still serves the workspaces and artifacts of earlier runs', async () => {
  const legacy = await mkdtemp(join(tmpdir(), 'slipway-legacy-'));
  try {
    const archive = Buffer.from('a workspace uploaded before the upgrade');
    const id = sha256Hex(archive);
    mkdirSync(join(legacy, 'workspaces'), { recursive: true });
    writeFileSync(join(legacy, 'workspaces', `${id}.tar.gz`), archive);
    mkdirSync(join(legacy, 'artifacts', 'run_old'), { recursive: true });
    writeFileSync(join(legacy, 'artifacts', 'run_old', 'bin.tar.gz'), 'binary');
    const server = await startServer({
      config: { port: 0, dataDir: legacy, logLevel: 'silent' },
      logger: silentLogger,
    });
    try {
      expect((await buffer(server.context.workspaces.open(id))).equals(archive)).toBe(true);
      expect(await server.context.artifacts.list('run_old')).toEqual([{ name: 'bin', size: 6 }]);
      expect(existsSync(join(legacy, 'blobs', 'workspaces', `${id}.tar.gz`))).toBe(true);
      expect(existsSync(join(legacy, 'workspaces'))).toBe(false);
    } finally {
      await server.stop();
    }
  } finally {
    await rm(legacy, { recursive: true, force: true });
  }
});
