import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import { apiCaller } from '../../test-support/inject.js';
import { type SlipwayServer, startServer } from '../server.js';

// Query strings are input too: a bad one is refused naming the field, never read as a default.
let server: SlipwayServer;
let dir: string;
let admin: string;
const call = apiCaller(() => server);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-queries-'));
  server = await startServer({ config: { port: 0, dataDir: dir, logLevel: 'silent' }, logger: silentLogger });
  admin = (await readFile(server.adminTokenFile, 'utf8')).trim();
});
afterAll(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

it('refuses a query string that is not a count, naming the field', async () => {
  const run = await call('POST', 'runs', admin, {
    pipeline: { file: 'p.yml', content: 'steps: [{ script: a }]\n' },
  });
  expect(run.status).toBe(201);
  for (const [url, field] of [
    ['runs?limit=many', 'limit'],
    ['runs?limit=0', 'limit'],
    [`runs/${run.body.id}/events?after=-1`, 'after'],
    [`runs/${run.body.id}/events?waitMs=soon`, 'waitMs'],
    [`jobs/${run.body.jobs[0].id}/log?attempt=1.5`, 'attempt'],
    [`jobs/${run.body.jobs[0].id}/log?step=-2`, 'step'],
  ] as const) {
    const res = await call('GET', url, admin);
    expect([url, res.status, res.body.error.code]).toEqual([url, 400, 'invalid_request']);
    expect(res.body.error.message.startsWith(`${field}: `)).toBe(true);
  }
  expect((await call('GET', 'runs?limit=1', admin)).body).toHaveLength(1);
  const feed = await call('GET', `runs/${run.body.number}/events?after=1&waitMs=0`, admin);
  expect(feed.body.events[0].seq).toBe(2);
  expect((await call('GET', `jobs/${run.body.jobs[0].id}/log?step=-1`, admin)).status).toBe(200);
});
