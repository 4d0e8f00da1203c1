import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fleetView, queueView, runView } from '../../protocol/schemas.js';
import { silentLogger } from '../../shared/logger.js';
import { apiCaller } from '../../test-support/inject.js';
import { type SlipwayServer, startServer } from '../server.js';

// The routes the CLI views and the web UI read: their shapes, scopes and status codes.
let server: SlipwayServer;
let dir: string;
let admin: string;
const call = apiCaller(() => server);
const pat = async (scopes: string[]) =>
  (await call('POST', 'tokens', admin, { scopes })).body.token as string;
const queueRun = (content = 'steps: [{ script: a }]\n') =>
  call('POST', 'runs', admin, { pipeline: { file: 'p.yml', content } });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-views-'));
  server = await startServer({ config: { port: 0, dataDir: dir, logLevel: 'silent' }, logger: silentLogger });
  admin = (await readFile(server.adminTokenFile, 'utf8')).trim();
});
afterAll(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

it('filters and pages the runs list, and refuses a status that does not exist naming the field', async () => {
  await queueRun();
  await queueRun();
  const reader = await pat(['runs:read']);
  const all = await call('GET', 'runs', reader);
  expect(all.status).toBe(200);
  const first = runView.array().parse(all.body);
  expect(first[0]!.number).toBeGreaterThan(first[1]!.number);
  const page = await call('GET', `runs?limit=1&before=${first[0]!.number}`, reader);
  expect(page.body.map((r: { number: number }) => r.number)).toEqual([first[1]!.number]);
  expect((await call('GET', 'runs?status=queued&q=p.yml', reader)).body.length).toBeGreaterThanOrEqual(2);
  const bad = await call('GET', 'runs?status=green', reader);
  expect(bad.status).toBe(400);
  expect(bad.body.error.message).toMatch(/^status: /);
});

it('shows the queue with why each job waits, to a reader', async () => {
  const run = await queueRun('pool: { name: default, demands: [gpu] }\nsteps: [{ script: a }]\n');
  const reader = await pat(['runs:read']);
  const res = await call('GET', 'queue', reader);
  expect(res.status).toBe(200);
  const view = queueView.parse(res.body);
  // No agent serves pool default here: the job is unserved until its queue timeout.
  const entry = view.queued.find((q) => q.runId === run.body.id)!;
  expect(entry).toMatchObject({ kind: 'unserved', demands: ['gpu'], pool: 'default' });
  expect(entry.reason).toBe("no agent and no fleet serve pool 'default'");
  expect((await call('GET', 'queue?pool=default', reader)).status).toBe(200);
  expect((await call('GET', 'queue')).status).toBe(401);
});

it('re-runs a run with 201 and the new run; a reader may not, a canceled run re-runs failed-only', async () => {
  const run = await queueRun();
  const writer = await pat(['runs:write']);
  const canceled = await call('POST', `runs/${run.body.number}/cancel`, writer);
  expect(canceled.status).toBe(200);
  expect(canceled.body.result).toBe('canceled');
  const reader = await pat(['runs:read']);
  expect((await call('POST', `runs/${run.body.id}/rerun`, reader, {})).status).toBe(403);
  const again = await call('POST', `runs/${run.body.id}/rerun`, writer, { failedOnly: true });
  expect(again.status).toBe(201);
  expect(runView.parse(again.body)).toMatchObject({
    rerunOf: { id: run.body.id, number: run.body.number, failedOnly: true },
    status: 'queued',
  });
  // No body at all is a full re-run.
  const full = await call('POST', `runs/${run.body.number}/rerun`, writer);
  expect([full.status, full.body.rerunOf.failedOnly]).toEqual([201, false]);
  const bad = await call('POST', `runs/${run.body.id}/rerun`, writer, { failedOnly: 'yes' });
  expect([bad.status, bad.body.error.message]).toEqual([400, expect.stringMatching(/^failedOnly: /)]);
  expect((await call('POST', 'runs/999999/rerun', writer, {})).status).toBe(404);
});

it('lists fleets with what they report, for agents:read', async () => {
  const status = {
    containers: 1,
    starting: 0,
    idle: 1,
    busy: 0,
    minIdle: 1,
    max: 3,
    image: 'slipway/base:latest',
    totals: { started: 1, exited: 0, scaledDown: 0, startFailed: 0 },
    events: [{ at: new Date().toISOString(), kind: 'started', agent: 'default-1' }],
  };
  expect(
    (await call('PUT', 'pools/default/fleet', admin, { id: 'f1', capabilities: {}, status })).status,
  ).toBe(200);
  const fleets = fleetView
    .array()
    .parse((await call('GET', 'fleets?pool=default', await pat(['agents:read']))).body);
  expect(fleets).toEqual([
    { pool: 'default', id: 'f1', lastSeenAt: expect.any(String), live: true, capabilities: {}, status },
  ]);
  expect((await call('GET', 'fleets', await pat(['runs:read']))).status).toBe(403);
  expect((await call('GET', 'fleets?pool=nowhere', admin)).status).toBe(404);
});

it('takes cancel and rerun as a browser sends them: JSON with no body', async () => {
  const run = await queueRun();
  const empty = (url: string) =>
    server.app.inject({
      method: 'POST',
      url: `/api/v1/${url}`,
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      payload: '',
    });
  const canceled = await empty(`runs/${run.body.id}/cancel`);
  expect([canceled.statusCode, canceled.json().result]).toEqual([200, 'canceled']);
  const again = await empty(`runs/${run.body.id}/rerun`);
  expect([again.statusCode, again.json().rerunOf.failedOnly]).toEqual([201, false]);
  // A body that is not JSON is still refused.
  const bad = await server.app.inject({
    method: 'POST',
    url: `/api/v1/runs/${run.body.id}/rerun`,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    payload: '{nope',
  });
  expect(bad.statusCode).toBe(400);
});
