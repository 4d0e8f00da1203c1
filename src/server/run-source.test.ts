import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentIdentity } from '../agent/identity.js';
import { silentLogger } from '../shared/logger.js';
import { apiCaller } from '../test-support/inject.js';
import { type SlipwayServer, startServer } from './server.js';

/** What a run's source and its jobs' `$[ ]` images become on the server, in-process. */
let server: SlipwayServer;
let dir: string;
let admin: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-source-'));
  server = await startServer({
    config: { port: 0, dataDir: dir, logLevel: 'silent', leaseTtlSeconds: 5 },
    logger: silentLogger,
  });
  admin = (await readFile(server.adminTokenFile, 'utf8')).trim();
});
afterEach(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

const call = apiCaller(() => server);

async function agent(name: string) {
  const pat = (await call('POST', 'tokens', admin, { scopes: ['agent:register'], expiresInDays: 1 })).body
    .token;
  const identity = new AgentIdentity();
  const reg = await call('POST', 'agents/register', pat, {
    pool: 'default',
    name,
    publicKey: identity.publicKeyPem,
  });
  const agentId = reg.body.agentId as string;
  const tok = await call('POST', 'agents/token', undefined, { assertion: await identity.assertion(agentId) });
  const access = tok.body.accessToken as string;
  const session = await call('POST', 'agents/session', access, { capabilities: {}, version: 'test' });
  return { access, sessionId: session.body.sessionId as string };
}

type RunBody = { jobs: { id: string; name: string; status: string; result: string | null }[] };

describe('a run’s source', () => {
  it('gives jobs Build.SourceBranch and the rest, for conditions and steps alike; --var still wins', async () => {
    const content = [
      'jobs:',
      '- job: onMain',
      "  condition: eq(variables['Build.SourceBranch'], 'refs/heads/main')",
      '  steps: [{ script: echo }]',
      '- job: elsewhere',
      "  condition: ne(variables['Build.SourceBranchName'], 'main')",
      '  steps: [{ script: echo }]',
      '',
    ].join('\n');
    const commit = 'c'.repeat(40);
    const res = await call('POST', 'runs', admin, {
      pipeline: { file: 'p.yml', content },
      source: { branch: 'refs/heads/main', commit, repository: 'shop' },
      variables: { 'Build.Repository.Name': 'from-var' },
    });
    expect(res.status).toBe(201);
    const run = (await call('GET', `runs/${res.body.id}`, admin)).body as RunBody;
    expect(run.jobs.map((j) => [j.name, j.status, j.result])).toEqual([
      ['onMain', 'queued', null],
      ['elsewhere', 'completed', 'skipped'],
    ]);
    // The run keeps its origin, so caches and views can tell branches and trust apart.
    expect(run).toMatchObject({
      source: { branch: 'refs/heads/main', commit },
      reason: 'Manual',
      untrusted: false,
    });
    const a = await agent('a');
    const spec = (await call('POST', `jobs/${run.jobs[0]!.id}/claim`, a.access, { sessionId: a.sessionId }))
      .body;
    expect(spec.variables).toMatchObject({
      'Build.SourceBranch': 'refs/heads/main',
      'Build.SourceBranchName': 'main',
      'Build.SourceVersion': commit,
      'Build.Reason': 'Manual',
      'Build.Repository.Name': 'from-var',
    });
  });

  it('refuses a source that is not a ref and a commit', async () => {
    const res = await call('POST', 'runs', admin, {
      pipeline: { file: 'p.yml', content: 'steps:\n- script: x\n' },
      source: { branch: 'main', commit: 'xyz' },
    });
    expect(res.status).toBe(400);
  });
});

describe('a container image from a runtime expression', () => {
  it('is the image the fleet is asked for, queue-time variables included', async () => {
    await call('PUT', 'pools/default/fleet', admin, { id: 'fleet-1' });
    const res = await call('POST', 'runs', admin, {
      pipeline: {
        file: 'p.yml',
        content:
          "variables: { img: alpine:3.20 }\njobs:\n- job: a\n  container: $[ variables['img'] ]\n  steps: [{ script: x }]\n",
      },
      variables: { img: 'busybox:1.36' },
    });
    expect(res.status).toBe(201);
    const demand = (await call('GET', 'pools/default/demand?waitMs=0', admin)).body;
    expect(demand.queued.map((q: { image: string | null }) => q.image)).toEqual(['busybox:1.36']);
    const run = (await call('GET', `runs/${res.body.id}`, admin)).body as RunBody;
    expect(run.jobs[0]!.status).toBe('queued');
  });
});
