import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentIdentity } from '../agent/identity.js';
import type { Clock } from '../shared/clock.js';
import { apiCaller } from '../test-support/inject.js';
import { type SlipwayServer, startServer } from './server.js';

/** A clock tests move by hand: expiry without waiting. */
class ManualClock implements Clock {
  t = Date.now();
  now() {
    return this.t;
  }
}

let server: SlipwayServer;
let dir: string;
let admin: string;
let clock: ManualClock;
let logged: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-sec-'));
  clock = new ManualClock();
  logged = '';
  server = await startServer({
    config: { port: 0, dataDir: dir },
    logger: pino({ level: 'info' }, sinkFor()),
    clock,
  });
  admin = (await readFile(server.adminTokenFile, 'utf8')).trim();
});
afterEach(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

const call = apiCaller(() => server);

function sinkFor(): Writable {
  return new Writable({
    write(chunk, _enc, done) {
      logged += chunk.toString();
      done();
    },
  });
}

async function dataFiles(): Promise<string> {
  const names = await readdir(dir);
  const texts = await Promise.all(
    names.filter((n) => n.startsWith('slipway.db')).map((n) => readFile(join(dir, n))),
  );
  return Buffer.concat(texts).toString('latin1');
}

async function claimOne(yaml = 'steps:\n- script: echo\n', secrets: Record<string, string> = {}) {
  const run = (await call('POST', 'runs', admin, { pipeline: { file: 'p.yml', content: yaml }, secrets }))
    .body;
  const identity = new AgentIdentity();
  const pat = (await call('POST', 'tokens', admin, { scopes: ['agent:register'] })).body.token;
  const name = `a${Math.random().toString(36).slice(2, 8)}`;
  const agentId = (
    await call('POST', 'agents/register', pat, { pool: 'default', name, publicKey: identity.publicKeyPem })
  ).body.agentId;
  const access = (
    await call('POST', 'agents/token', undefined, { assertion: await identity.assertion(agentId) })
  ).body.accessToken;
  const sessionId = (await call('POST', 'agents/session', access, { capabilities: {}, version: 't' })).body
    .sessionId;
  const claim = await call('POST', `jobs/${run.jobs[0].id}/claim`, access, { sessionId });
  if (claim.status !== 200) throw new Error(`claim failed: ${claim.raw} run=${JSON.stringify(run)}`);
  const spec = claim.body;
  return { run, spec, pat };
}

describe('credentials at rest', () => {
  it('stores tokens and secrets only as hashes or sealed: the database files hold none of them', async () => {
    const { spec, pat } = await claimOne('steps:\n- script: echo\n', {
      DB_PASSWORD: 'correct-horse-battery',
    });
    expect(spec.secrets).toEqual({ DB_PASSWORD: 'correct-horse-battery' });
    const bytes = await dataFiles();
    for (const secret of [admin, pat, spec.leaseToken, 'correct-horse-battery'])
      expect(bytes).not.toContain(secret);
  });

  it('shows secrets in no API response but the claimed job, and in no metric', async () => {
    const { run } = await claimOne('steps:\n- script: echo\n', { DB_PASSWORD: 'correct-horse-battery' });
    for (const url of [
      'runs',
      `runs/${run.id}`,
      `runs/${run.id}/events?after=0`,
      'pools',
      'agents',
      '/metrics',
    ]) {
      expect((await call('GET', url, admin)).raw).not.toContain('correct-horse-battery');
    }
  });

  it('refuses a secret shorter than 4 characters without echoing it', async () => {
    const res = await call('POST', 'runs', admin, {
      pipeline: { file: 'p.yml', content: 'steps:\n- script: x\n' },
      secrets: { PIN: 'abc' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/secrets\.PIN: secrets must be at least 4 characters/);
    expect(res.raw).not.toContain('abc"');
  });
});

describe('token lifetimes and scopes', () => {
  it('refuses an expired PAT with 401 "token expired"', async () => {
    const pat = (await call('POST', 'tokens', admin, { scopes: ['runs:read'], expiresInDays: 1 })).body.token;
    expect((await call('GET', 'runs', pat)).status).toBe(200);
    clock.t += 2 * 86_400_000;
    expect(await call('GET', 'runs', pat)).toMatchObject({
      status: 401,
      body: { error: { message: 'token expired' } },
    });
  });

  it('uses a JIT ticket once, only for its pool and name, and only before it expires', async () => {
    await call('POST', 'pools', admin, { name: 'other' });
    const ticket = async (name: string) =>
      (await call('POST', 'pools/default/tickets', admin, { name, ttlSeconds: 60 })).body.ticket;
    const key = () => new AgentIdentity().publicKeyPem;
    const t1 = await ticket('default-1');
    expect(
      (await call('POST', 'agents/register', t1, { pool: 'other', name: 'default-1', publicKey: key() }))
        .status,
    ).toBe(403);
    expect(
      (await call('POST', 'agents/register', t1, { pool: 'default', name: 'default-2', publicKey: key() }))
        .status,
    ).toBe(403);
    expect(
      (await call('POST', 'agents/register', t1, { pool: 'default', name: 'default-1', publicKey: key() }))
        .status,
    ).toBe(201);
    expect(
      await call('POST', 'agents/register', t1, { pool: 'default', name: 'default-1', publicKey: key() }),
    ).toMatchObject({
      status: 401,
      body: { error: { message: 'registration ticket used already' } },
    });
    const t2 = await ticket('default-3');
    clock.t += 61_000;
    expect(
      await call('POST', 'agents/register', t2, { pool: 'default', name: 'default-3', publicKey: key() }),
    ).toMatchObject({
      status: 401,
      body: { error: { message: 'token expired' } },
    });
  });

  it("keeps a job's lease token to its own job", async () => {
    const a = await claimOne();
    const b = await claimOne();
    const res = await call(
      'POST',
      `jobs/${b.run.jobs[0].id}/logs?epoch=1&step=0&offset=0`,
      a.spec.leaseToken,
      Buffer.from('x'),
    );
    expect(res.status).toBe(403);
    expect((await call('GET', 'runs', a.spec.leaseToken)).status).toBe(401);
    expect((await call('POST', 'tokens', a.spec.leaseToken, { scopes: ['admin'] })).status).toBe(401);
  });
});

describe('what each token may see', () => {
  it("shows agents' capabilities (host environment values) only to admin or agents:read", async () => {
    const scoped = async (scopes: string[]) => (await call('POST', 'tokens', admin, { scopes })).body.token;
    for (const scopes of [['agent:register'], ['runs:read'], ['runs:write']])
      expect((await call('GET', 'agents', await scoped(scopes))).status).toBe(403);
    expect((await call('GET', 'agents', await scoped(['agents:read']))).status).toBe(200);
    expect((await call('GET', 'agents', admin)).status).toBe(200);
  });

  it('answers a workspace sent as JSON with 400 naming what it must be', async () => {
    const res = await call('PUT', 'workspaces', admin, { not: 'an archive' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/gzip-compressed tar archive/);
  });

  it("keeps the step token to the workspace: it cannot list or download the run's artifacts", async () => {
    const { spec } = await claimOne();
    const jobId = spec.jobId;
    expect((await call('GET', `jobs/${jobId}/artifacts`, spec.leaseToken)).status).toBe(200);
    expect((await call('GET', `jobs/${jobId}/artifacts`, spec.stepToken)).status).toBe(401);
    expect((await call('GET', `jobs/${jobId}/artifacts/any`, spec.stepToken)).status).toBe(401);
  });
});

describe('the data directory', () => {
  it('is created 0700 with the database files 0600', async () => {
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const names = (await readdir(dir)).filter((n) => n.startsWith('slipway.db'));
    expect(names).toEqual(expect.arrayContaining(['slipway.db', 'slipway.db-wal', 'slipway.db-shm']));
    for (const n of names)
      expect({ n, mode: (await stat(join(dir, n))).mode & 0o777 }).toEqual({ n, mode: 0o600 });
  });

  it('warns when an existing data directory can be read by others', async () => {
    const open = join(dir, 'shared');
    await mkdir(open);
    await chmod(open, 0o755);
    const other = await startServer({
      config: { port: 0, dataDir: open },
      logger: pino({ level: 'info' }, sinkFor()),
    });
    await other.stop();
    expect(logged).toMatch(/readable by other users \(mode 0755\).*chmod 700/);
  });
});

describe('authentication failures', () => {
  it('rate-limits a source that keeps failing, and logs failures without the secret', async () => {
    const guess = `slw_pat_${'B'.repeat(43)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 32; i++)
      statuses.push((await call('GET', 'runs', guess, undefined, '10.9.9.9')).status);
    expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    // A valid credential from the limited source is never refused: only its failures are.
    expect((await call('GET', 'runs', admin, undefined, '10.9.9.9')).status).toBe(200);
    expect((await call('GET', 'runs', `slw_pat_${'C'.repeat(43)}`, undefined, '10.9.9.9')).status).toBe(429);
    // Another source is unaffected; the limited one recovers after the window.
    expect((await call('GET', 'runs', guess, undefined, '10.9.9.10')).status).toBe(401);
    clock.t += 61_000;
    expect((await call('GET', 'runs', `slw_pat_${'D'.repeat(43)}`, undefined, '10.9.9.9')).status).toBe(401);
    expect(logged).toContain('authentication failed');
    expect(logged).not.toContain(guess);
  });

  it('logs a flood in summary, not one line per failure', async () => {
    for (let i = 0; i < 200; i++) await call('GET', 'runs', `slw_pat_${String(i).padStart(43, 'E')}`);
    expect(logged.match(/"msg":"authentication failed"/g)?.length).toBe(30);
    expect(logged).toContain('valid credentials still work');
  });

  it('keeps exchanging valid agent assertions for a client that floods bad ones', async () => {
    const identity = new AgentIdentity();
    const pat = (await call('POST', 'tokens', admin, { scopes: ['agent:register'] })).body.token;
    const agentId = (
      await call('POST', 'agents/register', pat, {
        pool: 'default',
        name: 'asserter',
        publicKey: identity.publicKeyPem,
      })
    ).body.agentId;
    for (let i = 0; i < 40; i++)
      await call('POST', 'agents/token', undefined, { assertion: `bad.assertion.number.${i}` });
    expect(
      (await call('POST', 'agents/token', undefined, { assertion: 'bad.assertion.once.more' })).status,
    ).toBe(429);
    const res = await call('POST', 'agents/token', undefined, {
      assertion: await identity.assertion(agentId),
    });
    expect(res.status).toBe(200);
    expect((await call('GET', 'pools', admin)).status).toBe(200);
  });
});

describe('agents whose credentials a job could steal', () => {
  async function ticketAgent(name: string) {
    const ticket = (await call('POST', 'pools/default/tickets', admin, { name })).body.ticket;
    const identity = new AgentIdentity();
    const agentId = (
      await call('POST', 'agents/register', ticket, {
        pool: 'default',
        name,
        publicKey: identity.publicKeyPem,
      })
    ).body.agentId;
    const access = (
      await call('POST', 'agents/token', undefined, { assertion: await identity.assertion(agentId) })
    ).body.accessToken;
    const sessionId = (await call('POST', 'agents/session', access, { capabilities: {}, version: 't' })).body
      .sessionId;
    return { access, sessionId };
  }
  const queue = async () =>
    (await call('POST', 'runs', admin, { pipeline: { file: 'p.yml', content: 'steps:\n- script: echo\n' } }))
      .body.jobs[0].id;

  it('get no second job while one runs, and a ticket agent gets one job ever', async () => {
    const a = await ticketAgent('default-7');
    const first = await queue();
    const second = await queue();
    const spec = (await call('POST', `jobs/${first}/claim`, a.access, { sessionId: a.sessionId })).body;
    expect((await call('POST', 'agents/poll', a.access, { sessionId: a.sessionId })).status).toBe(409);
    expect((await call('POST', `jobs/${second}/claim`, a.access, { sessionId: a.sessionId })).status).toBe(
      409,
    );
    await call('POST', `jobs/${first}/complete`, spec.leaseToken, { epoch: spec.epoch, result: 'succeeded' });
    expect((await call('POST', `jobs/${second}/claim`, a.access, { sessionId: a.sessionId })).status).toBe(
      403,
    );
  });
});
