import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import { CONTENT_SECURITY_POLICY } from '../../web/index.js';
import { type SlipwayServer, startServer } from '../server.js';

let server: SlipwayServer;
let dir: string;
let admin: string;
const ORIGIN = 'http://127.0.0.1:8420';
const HOST = '127.0.0.1:8420';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-web-'));
  server = await startServer({ config: { port: 0, dataDir: dir }, logger: silentLogger });
  admin = (await readFile(server.adminTokenFile, 'utf8')).trim();
});
afterAll(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

type Headers = Record<string, string>;
async function call(method: 'GET' | 'POST' | 'DELETE', url: string, headers: Headers = {}, payload?: object) {
  const res = await server.app.inject({
    method,
    url,
    headers: { host: HOST, ...headers },
    ...(payload ? { payload } : {}),
  });
  return res;
}
/** What the UI's own page sends with a state change. */
const fromUi: Headers = { origin: ORIGIN, 'sec-fetch-site': 'same-origin', 'x-slipway-request': '1' };

async function signIn(token = admin): Promise<string> {
  const res = await call('POST', '/api/v1/session', fromUi, { token });
  expect(res.statusCode).toBe(201);
  const cookie = String(res.headers['set-cookie']);
  return /slipway_session=([^;]+)/.exec(cookie)![1]!;
}

describe('the browser session', () => {
  it('exchanges the token for an HttpOnly, SameSite=Strict cookie of its own and never sends a token back', async () => {
    const res = await call('POST', '/api/v1/session', fromUi, { token: admin });
    expect(res.statusCode).toBe(201);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(
      /^slipway_session=slw_pat_[A-Za-z0-9_-]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/,
    );
    // 12 hours, less the moment it took to answer: the cookie never outlives its session.
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)![1]);
    expect(maxAge).toBeGreaterThan(43_190);
    expect(maxAge).toBeLessThanOrEqual(43_200);
    expect(cookie).not.toContain(admin);
    expect(res.body).not.toContain('slw_');
    expect(res.json()).toMatchObject({ scopes: ['admin'] });
  });

  it('lets the cookie stand for a bearer token on reads', async () => {
    const session = await signIn();
    expect((await call('GET', '/api/v1/runs')).statusCode).toBe(401);
    const runs = await call('GET', '/api/v1/runs', { cookie: `slipway_session=${session}` });
    expect(runs.statusCode).toBe(200);
  });

  it('refuses a cookie-signed state change without the UI header, from another origin, or cross-site', async () => {
    const session = await signIn();
    const cookie = `slipway_session=${session}`;
    const create = (headers: Headers) =>
      call(
        'POST',
        '/api/v1/pools',
        { cookie, ...headers },
        { name: `p${Math.random().toString(36).slice(2, 8)}` },
      );
    const noHeader = await create({ origin: ORIGIN });
    expect(noHeader.statusCode).toBe(403);
    expect(noHeader.json().error.message).toContain('x-slipway-request');
    expect((await create({ ...fromUi, origin: 'http://evil.example' })).statusCode).toBe(403);
    expect((await create({ ...fromUi, 'sec-fetch-site': 'cross-site' })).statusCode).toBe(403);
    expect((await create({ 'x-slipway-request': '1' })).statusCode).toBe(403);
    expect((await create(fromUi)).statusCode).toBe(201);
    // A script with a bearer token is not a browser: no origin needed.
    const bearer = await call(
      'POST',
      '/api/v1/pools',
      { authorization: `Bearer ${admin}` },
      { name: 'bearer-pool' },
    );
    expect(bearer.statusCode).toBe(201);
  });

  it('refuses a sign-in posted from another site (no one signs a browser in to their account)', async () => {
    const res = await call(
      'POST',
      '/api/v1/session',
      { origin: 'http://evil.example', 'x-slipway-request': '1' },
      { token: admin },
    );
    expect(res.statusCode).toBe(403);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('refuses a bad token and says why', async () => {
    const res = await call('POST', '/api/v1/session', fromUi, { token: 'slw_adm_nope' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('signing out revokes the session, and only the session', async () => {
    const session = await signIn();
    const cookie = `slipway_session=${session}`;
    const out = await call('DELETE', '/api/v1/session', { cookie, ...fromUi });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await call('GET', '/api/v1/runs', { cookie })).statusCode).toBe(401);
    // A bearer caller's DELETE /session never revokes its own token.
    await call('DELETE', '/api/v1/session', { authorization: `Bearer ${admin}` });
    expect((await call('GET', '/api/v1/runs', { authorization: `Bearer ${admin}` })).statusCode).toBe(200);
  });

  it('gives a read-only PAT a read-only session', async () => {
    const pat = await call(
      'POST',
      '/api/v1/tokens',
      { authorization: `Bearer ${admin}` },
      { name: 'reader', scopes: ['runs:read'], expiresInDays: 1 },
    );
    const session = await signIn(pat.json().token);
    const cookie = `slipway_session=${session}`;
    expect((await call('GET', '/api/v1/session', { cookie })).json().scopes).toEqual(['runs:read']);
    expect((await call('POST', '/api/v1/pools', { cookie, ...fromUi }, { name: 'nope' })).statusCode).toBe(
      403,
    );
  });
});

describe('headers and pages', () => {
  it('puts the content security policy on pages, files, API answers and errors alike', async () => {
    for (const url of [
      '/',
      '/runs/3/jobs/build',
      '/assets/app.js',
      '/api/v1/runs',
      '/no/such/page',
      '/healthz',
    ]) {
      const res = await call('GET', url);
      expect(res.headers['content-security-policy'], url).toBe(CONTENT_SECURITY_POLICY);
      expect(res.headers['x-content-type-options'], url).toBe('nosniff');
    }
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe');
  });

  it('serves the page shell, with no inline script, to anyone; its data only to a session', async () => {
    const page = await call('GET', '/runs');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('<script type="module" src="/assets/app.js"></script>');
    expect(page.body).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect((await call('GET', '/assets/app.js')).headers['content-type']).toContain('text/javascript');
    expect((await call('GET', '/assets/..%2Fserver.json')).statusCode).toBe(404);
  });
});
