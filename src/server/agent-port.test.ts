import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_PREFIX } from '../protocol/index.js';
import { silentLogger } from '../shared/logger.js';
import { serverConfig } from './config.js';
import { type SlipwayServer, startServer } from './server.js';

/** Every route an agent (or its job's steps) calls, with an id where the route has one. */
const AGENT_ROUTES: [string, string][] = [
  ['POST', '/agents/register'],
  ['POST', '/agents/start'],
  ['POST', '/agents/token'],
  ['POST', '/agents/session'],
  ['POST', '/agents/poll'],
  ['DELETE', '/agents/self'],
  ['POST', '/jobs/j1/claim'],
  ['POST', '/jobs/j1/heartbeat'],
  ['POST', '/jobs/j1/steps'],
  ['POST', '/jobs/j1/logs'],
  ['POST', '/jobs/j1/complete'],
  ['GET', '/jobs/j1/workspace'],
  ['GET', '/jobs/j1/artifacts'],
  ['GET', '/jobs/j1/artifacts/out'],
  ['PUT', '/jobs/j1/artifacts/out'],
  ['POST', '/jobs/j1/caches/lookup'],
  ['POST', '/jobs/j1/caches/reserve'],
  ['PUT', '/jobs/j1/caches'],
  ['GET', '/jobs/j1/caches/entries/e1'],
];

/** What people and fleets call: none of it exists on the agent port. */
const ADMIN_ROUTES: [string, string][] = [
  ['GET', `${API_PREFIX}/pools`],
  ['POST', `${API_PREFIX}/pools`],
  ['POST', `${API_PREFIX}/tokens`],
  ['GET', `${API_PREFIX}/agents`],
  ['GET', `${API_PREFIX}/fleets`],
  ['POST', `${API_PREFIX}/pools/default/tickets`],
  ['GET', `${API_PREFIX}/pools/default/demand`],
  ['POST', `${API_PREFIX}/runs`],
  ['GET', `${API_PREFIX}/runs`],
  ['PUT', `${API_PREFIX}/workspaces`],
  ['GET', `${API_PREFIX}/queue`],
  ['GET', `${API_PREFIX}/jobs/j1/log`],
  ['GET', `${API_PREFIX}/runs/r1/artifacts`],
  ['GET', `${API_PREFIX}/repositories`],
  ['GET', `${API_PREFIX}/groups`],
  ['POST', `${API_PREFIX}/session`],
  ['GET', '/metrics'],
  ['GET', '/'],
];

describe('the agent port (agentPort): the agent API alone', () => {
  let dir: string;
  let server: SlipwayServer;
  let adminToken: string;
  let agentUrl: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-agent-port-'));
    server = await startServer({
      config: { port: 0, agentPort: 0, dataDir: dir, logLevel: 'silent' },
      logger: silentLogger,
    });
    adminToken = (await readFile(server.adminTokenFile, 'utf8')).trim();
    agentUrl = server.agentUrl ?? '';
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const call = (base: string, method: string, path: string, token?: string) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
      },
      ...(method === 'POST' ? { body: '{}' } : {}),
    });

  it('listens on a port of its own and answers /healthz', async () => {
    expect(agentUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(agentUrl).not.toBe(server.url);
    const res = await fetch(`${agentUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it.each(AGENT_ROUTES)('serves %s %s (behind its token, not 404)', async (method, path) => {
    const res = await call(agentUrl, method, `${API_PREFIX}${path}`);
    expect(res.status).not.toBe(404);
    expect([400, 401, 403]).toContain(res.status);
  });

  it.each(ADMIN_ROUTES)('answers 404 to %s %s, even with the admin token', async (method, path) => {
    const res = await call(agentUrl, method, path, adminToken);
    expect(res.status).toBe(404);
    // No such route there, not a run or job that was not found.
    expect(await res.json()).toEqual({
      error: { code: 'not_found', message: `no route ${method} ${path}` },
    });
  });

  it('leaves the main port serving everything, the agent routes too', async () => {
    expect((await call(server.url, 'GET', `${API_PREFIX}/pools`, adminToken)).status).toBe(200);
    expect((await call(server.url, 'GET', '/')).status).toBe(200);
    expect((await call(server.url, 'POST', `${API_PREFIX}/agents/register`)).status).toBe(401);
  });

  it('runs the same handlers as the main port: a token is taken, the body checked', async () => {
    const res = await fetch(`${agentUrl}${API_PREFIX}/agents/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({}),
    });
    // Authenticated and validated: the agent port runs the same handler as the main one.
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'invalid_request' } });
  });
});

describe('agentPort configuration', () => {
  it('is off by default: no agent URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-agent-port-'));
    const server = await startServer({
      config: { port: 0, dataDir: dir, logLevel: 'silent' },
      logger: silentLogger,
    });
    try {
      expect(server.agentUrl).toBeUndefined();
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses the main port as the agent port', () => {
    const parsed = serverConfig.safeParse({ port: 8420, agentPort: 8420 });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['agentPort']);
    expect(serverConfig.safeParse({ port: 8420, agentPort: 8421 }).success).toBe(true);
  });

  it('fails to start, and lets go of the data directory, when the agent port is taken', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-agent-port-'));
    const first = await startServer({
      config: { port: 0, dataDir: join(dir, 'a'), logLevel: 'silent' },
      logger: silentLogger,
    });
    const taken = Number(new URL(first.url).port);
    try {
      await expect(
        startServer({
          config: { port: 0, agentPort: taken, dataDir: join(dir, 'b'), logLevel: 'silent' },
          logger: silentLogger,
        }),
      ).rejects.toThrow(/EADDRINUSE/);
      // The data directory is free again: a server starts on it at once.
      const again = await startServer({
        config: { port: 0, dataDir: join(dir, 'b'), logLevel: 'silent' },
        logger: silentLogger,
      });
      await again.stop();
    } finally {
      await first.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
