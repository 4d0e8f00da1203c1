import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, killAll, spawnCli, startTestServer, type TestServer } from '../test-support/harness.js';

const RETRY_LINE = /cannot reach the server at (\S+): (.*); retrying in \d+\.\ds/g;

/** A plain TCP forwarder to the test server, started on `port` only when the test says so. */
async function forward(port: number, target: number): Promise<Server> {
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) s.on('error', () => s.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return server;
}

describe('an agent that cannot reach its server', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer();
  });
  afterEach(killAll);
  afterAll(async () => {
    await ts.stop();
  });

  const agent = (url: string, name: string, args: string[] = []) =>
    spawnCli(['agent', 'run', '--url', url, ...args], {
      AZP_TOKEN: 'slw_pat_not-needed-to-fail',
      AZP_AGENT_NAME: name,
      AZP_WORK: join(ts.dir, 'work', name),
      SLIPWAY_LOG_LEVEL: 'info',
    });

  it('says why at once and on each retry, then with --once gives up with exit 3', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const a = agent(url, 'refused-1', ['--once', '--retry-for', '3']);
    await a.waitFor(/cannot reach the server/);
    expect(a.output()).toContain(`cannot reach the server at ${url}: connection refused (ECONNREFUSED)`);
    expect(await a.exited).toBe(3);
    const retries = [...a.output().matchAll(RETRY_LINE)];
    expect(retries.length).toBeGreaterThanOrEqual(2);
    // The waits grow: each line says how long until the next try, with its attempt number.
    expect(a.output()).toMatch(/"attempt":2/);
    expect(a.output()).toMatch(
      new RegExp(`slipway agent: gave up after \\d+s: cannot reach the server at ${url}: connection refused`),
    );
  });

  it('names a host name that does not resolve', async () => {
    const a = agent('http://no-such-host.invalid:8420', 'dns-1', ['--once', '--retry-for', '1']);
    expect(await a.exited).toBe(3);
    expect(a.output()).toMatch(
      /cannot reach the server at http:\/\/no-such-host\.invalid:8420: the host name does not resolve \((ENOTFOUND|EAI_AGAIN)\)/,
    );
  });

  it('says when https:// meets a plain http listener', async () => {
    const url = ts.url.replace(/^http:/, 'https:');
    const a = agent(url, 'tls-1', ['--once', '--retry-for', '1']);
    expect(await a.exited).toBe(3);
    expect(a.output()).toContain(`cannot reach the server at ${url}: TLS handshake failed`);
    expect(a.output()).toContain('use http://');
  });

  it('stops at once, exit 2, on a port fetch never connects to', async () => {
    const a = agent('http://127.0.0.1:6000', 'badport-1');
    expect(await a.exited).toBe(2);
    expect(a.output()).toContain('cannot use http://127.0.0.1:6000: this port is on the block list');
  });

  it('without --once keeps retrying and registers once the server is reachable', async () => {
    const port = await freePort();
    const pat = await ts.pat();
    const a = spawnCli(['agent', 'run', '--url', `http://127.0.0.1:${port}`], {
      AZP_TOKEN: pat,
      AZP_AGENT_NAME: 'later-1',
      AZP_WORK: join(ts.dir, 'work', 'later-1'),
      SLIPWAY_LOG_LEVEL: 'info',
      // Would give up at once with --once; without it, this does not apply.
      SLIPWAY_AGENT_RETRY_FOR: '0',
    });
    await a.waitFor(/"attempt":3,/);
    const proxy = await forward(port, Number(new URL(ts.url).port));
    try {
      await a.waitFor(/"msg":"registered"/);
      expect(a.output()).toContain(`reached the server at http://127.0.0.1:${port} again`);
      a.kill();
      expect(await a.exited).toBe(0);
    } finally {
      proxy.close();
    }
  });
});

describe('slipway agent run with a bad URL', () => {
  it('names the flag and the variable when the URL is missing, and exits 2', async () => {
    const a = spawnCli(['agent', 'run'], { AZP_TOKEN: 'x' });
    expect(await a.exited).toBe(2);
    expect(a.output()).toContain('the server URL is missing: set it with --url or the AZP_URL');
    expect(a.output()).not.toContain('Invalid URL');
  });

  it('says a URL has no scheme and shows the fix, and exits 2', async () => {
    const a = spawnCli(['agent', 'run', '--url', 'localhost:8420'], { AZP_TOKEN: 'x' });
    expect(await a.exited).toBe(2);
    expect(a.output()).toContain(
      "'localhost:8420' (from --url or AZP_URL) has no scheme: write http://localhost:8420 or https://localhost:8420",
    );
    const env = spawnCli(['agent', 'run'], { AZP_TOKEN: 'x', AZP_URL: 'ci.example.com' });
    expect(await env.exited).toBe(2);
    expect(env.output()).toContain("'ci.example.com' (from --url or AZP_URL) has no scheme");
  });
});
