import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { ApiClient } from '../protocol/client.js';
import type { ServerConfigInput } from '../server/config.js';
import { type SlipwayServer, startServer } from '../server/server.js';
import { silentLogger } from '../shared/logger.js';
import { createTestDatabase } from './postgres.js';

export const ROOT = join(import.meta.dirname, '..', '..');
/** The CLI as `bin/slipway` runs it: the bundle. */
export const CLI = join(ROOT, 'dist', 'cli-bundle', 'main.js');

export interface TestServer {
  server: SlipwayServer;
  url: string;
  adminToken: string;
  client: ApiClient;
  dir: string;
  /** A fresh PAT with scope agent:register. */
  pat(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A real server on a free port with its own data directory. With `SLIPWAY_TEST_STORE=postgres`
 * its store is a new PostgreSQL database (dropped at `stop`), so the server's tests can be run
 * against that store too.
 */
export async function startTestServer(config: Partial<ServerConfigInput> = {}): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-test-'));
  const database =
    process.env.SLIPWAY_TEST_STORE === 'postgres' && config.database === undefined
      ? await createTestDatabase('slipway_server')
      : undefined;
  const server = await startServer({
    config: {
      host: '127.0.0.1',
      port: 0,
      dataDir: join(dir, 'data'),
      logLevel: 'silent',
      // A server on PostgreSQL is told where its shared blobs are and its shared key.
      ...(database
        ? {
            database: database.url,
            blobs: `file:${join(dir, 'blobs')}`,
            secretKey: randomBytes(32).toString('hex'),
          }
        : {}),
      ...config,
    },
    logger: silentLogger,
  });
  const adminToken = (await readFile(server.adminTokenFile, 'utf8')).trim();
  const client = new ApiClient(server.url);
  return {
    server,
    url: server.url,
    adminToken,
    client,
    dir,
    async pat() {
      const res = await client.request<{ token: string }>('tokens', {
        token: adminToken,
        body: { name: 'test', scopes: ['agent:register'], expiresInDays: 1 },
      });
      return res.body.token;
    },
    async stop() {
      await server.stop();
      await database?.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Proc {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

const started = new Set<ChildProcess>();

/** Spawns the built CLI; tests end what they started with `killAll`. */
export function spawnCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  cwd = ROOT,
  user?: { uid: number; gid: number },
): Proc {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    ...user,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', SLIPWAY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | string>((resolve) =>
    child.on('close', (code, signal) => {
      started.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  return {
    child,
    output: () => out,
    exited,
    kill: (signal = 'SIGTERM') => child.kill(signal),
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(out)) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${out}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
}

/** Starts a real agent process against `ts`. */
export async function spawnAgent(
  ts: TestServer,
  name: string,
  extra: { args?: string[]; env?: Record<string, string> } = {},
): Promise<Proc> {
  return spawnAgentAt(ts.url, await ts.pat(), name, join(ts.dir, 'work', name), extra);
}

/** Starts a real agent process against any server URL with a registration token. */
export async function spawnAgentAt(
  url: string,
  token: string,
  name: string,
  work: string,
  extra: { args?: string[]; env?: Record<string, string> } = {},
): Promise<Proc> {
  const agent = spawnCli(['agent', 'run', ...(extra.args ?? [])], {
    AZP_URL: url,
    AZP_TOKEN: token,
    AZP_AGENT_NAME: name,
    AZP_WORK: work,
    SLIPWAY_LOG_LEVEL: 'info',
    ...extra.env,
  });
  await agent.waitFor(/"msg":"registered"/);
  return agent;
}

/** `slipway run` as a user types it, against `ts`. */
export async function runCli(
  ts: TestServer,
  args: string[],
  cwd = ROOT,
): Promise<{ code: number | string; output: string }> {
  const p = spawnCli(['run', ...args], { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken }, cwd);
  const code = await p.exited;
  return { code, output: p.output() };
}

export async function killAll(): Promise<void> {
  const waits = [...started].map(
    (c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('close', r))),
  );
  for (const c of started) c.kill('SIGKILL');
  await Promise.all(waits);
}

/** A free TCP port on loopback (for servers that must come back on the same port). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const addr = s.address();
  await new Promise((r) => s.close(r));
  return typeof addr === 'object' && addr ? addr.port : 0;
}

/** The server as its own process (so a test can `kill -9` it), on a fixed port and data dir. */
export async function spawnServer(
  dataDir: string,
  port: number,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<Proc> {
  const server = spawnCli(
    ['server', '--port', String(port), '--data', dataDir, '--log-level', 'warn', ...extra],
    env,
  );
  await server.waitFor(/listening on/);
  return server;
}

/**
 * Registers hooks that start a server with one agent before the tests of the current file or
 * `describe`, and end both after them. Returns a getter for the server.
 */
export function serverWithAgent(
  agentName: string,
  config: Partial<ServerConfigInput> = {},
): () => TestServer {
  let ts: TestServer | undefined;
  beforeAll(async () => {
    ts = await startTestServer(config);
    await spawnAgent(ts, agentName);
  });
  afterAll(async () => {
    await killAll();
    await ts?.stop();
  });
  return () => ts!;
}
