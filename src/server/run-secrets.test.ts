import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { AgentIdentity } from '../agent/identity.js';
import { silentLogger } from '../shared/logger.js';
import { apiCaller } from '../test-support/inject.js';
import { type SlipwayServer, startServer } from './server.js';

// The agent masks everything it sends; an agent that does not (an old one, a bug) must still not
// get a run's secret stored or shown. This talks to the server directly, as such an agent would.
const SECRET = 'srvS3cretValue';

let server: SlipwayServer;
let dir: string;
let admin: string;
const call = apiCaller(() => server);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-secrets-'));
  server = await startServer({ config: { port: 0, dataDir: dir, logLevel: 'silent' }, logger: silentLogger });
  admin = (await readFile(server.adminTokenFile, 'utf8')).trim();
});
afterEach(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

async function claimedJob() {
  const pat = (await call('POST', 'tokens', admin, { scopes: ['agent:register'], expiresInDays: 1 })).body
    .token;
  const identity = new AgentIdentity();
  const reg = await call('POST', 'agents/register', pat, {
    pool: 'default',
    name: 'raw-1',
    publicKey: identity.publicKeyPem,
  });
  const agentId = reg.body.agentId as string;
  const access = (
    await call('POST', 'agents/token', undefined, { assertion: await identity.assertion(agentId) })
  ).body.accessToken as string;
  const sessionId = (await call('POST', 'agents/session', access, { capabilities: {}, version: 'test' })).body
    .sessionId as string;
  const run = await call('POST', 'runs', admin, {
    pipeline: { file: 'p.yml', content: 'steps:\n- script: echo hi\n' },
    secrets: { tok: SECRET },
  });
  const jobId = run.body.jobs[0].id as string;
  const spec = (await call('POST', `jobs/${jobId}/claim`, access, { sessionId })).body;
  return {
    runId: run.body.id as string,
    jobId,
    lease: spec.leaseToken as string,
    epoch: spec.epoch as number,
  };
}

it("masks a run's secret in a step name, reason, build number, tag and output it is sent, and refuses it in an artifact name", async () => {
  const { runId, jobId, lease, epoch } = await claimedJob();
  const step = await call('POST', `jobs/${jobId}/steps`, lease, {
    epoch,
    index: 0,
    state: 'completed',
    result: 'failed',
    reason: `could not log in as ${SECRET}`,
    name: `Deploy ${SECRET}`,
  });
  expect(step.status).toBe(200);
  const art = await server.app.inject({
    method: 'PUT',
    url: `/api/v1/jobs/${jobId}/artifacts/art-${SECRET}`,
    headers: { authorization: `Bearer ${lease}`, 'content-type': 'application/octet-stream' },
    payload: Buffer.from('x'),
  });
  expect(art.statusCode).toBe(400);
  expect(art.body).toContain('the artifact name contains a secret');
  const done = await call('POST', `jobs/${jobId}/complete`, lease, {
    epoch,
    result: 'failed',
    reason: `failed for ${SECRET}`,
    buildNumber: `1.0-${SECRET}`,
    tags: [`tag-${SECRET}`],
    outputs: { 'emit.token': SECRET },
  });
  expect(done.status).toBe(200);

  const view = await call('GET', `runs/${runId}`, admin);
  expect(view.body).toMatchObject({ buildNumber: '1.0-***', tags: ['tag-***'] });
  expect(view.body.jobs[0]).toMatchObject({ reason: 'failed for ***', outputs: { 'emit.token': '***' } });
  expect(view.body.jobs[0].steps[0]).toMatchObject({ name: 'Deploy ***', reason: 'could not log in as ***' });
  expect(view.raw).not.toContain(SECRET);
  const events = await call('GET', `runs/${runId}/events`, admin);
  expect(events.status).toBe(200);
  expect(events.raw).toContain('Deploy ***');
  expect(events.raw).not.toContain(SECRET);
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    expect(file).not.toContain(SECRET);
    expect((await readFile(file)).includes(Buffer.from(SECRET)), `${file} holds the secret`).toBe(false);
  }
});
