import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runView } from '../protocol/schemas.js';
import {
  freePort,
  killAll,
  type Proc,
  spawnAgent,
  spawnCli,
  spawnServer,
  startTestServer,
  type TestServer,
} from '../test-support/harness.js';

/** What a user met when trying Slipway for the first time, through the built CLI. */

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slw-newuser-'));
  dirs.push(dir);
  return dir;
}

/** A workspace whose only file is its pipeline. */
async function workspace(yaml: string): Promise<string> {
  const dir = await tempDir();
  await writeFile(join(dir, 'azure-pipelines.yml'), yaml);
  return dir;
}

const noStackTrace = (output: string) => expect(output).not.toMatch(/^\s+at /m);

afterAll(async () => {
  await killAll();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('against one server', () => {
  let ts: TestServer;
  const env = () => ({ SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken });
  const cli = async (args: string[]) => {
    const p = spawnCli(args, env());
    return { code: await p.exited, output: p.output() };
  };

  beforeAll(async () => {
    ts = await startTestServer();
  });
  afterAll(async () => {
    await killAll();
    await ts.stop();
  });

  it('--var without = is a usage error naming the flag: exit 2, no stack trace', async () => {
    const { code, output } = await cli(['run', '--var', 'NOEQUALS']);
    expect(output).toContain(
      "option '--var <name=value>' argument 'NOEQUALS' is invalid. expected NAME=VALUE",
    );
    noStackTrace(output);
    expect(code).toBe(2);
  });

  it('token create --expires takes s/m/h/d and names the flag, never a wire field', async () => {
    const hour = await cli(['token', 'create', '--scope', 'agent:register', '--expires', '1h']);
    expect(hour.code, hour.output).toBe(0);
    expect(hour.output).toMatch(/^slw_pat_\S+\n$/);

    const zero = await cli(['token', 'create', '--scope', 'agent:register', '--expires', '0d']);
    expect(zero.code).toBe(2);
    expect(zero.output).toContain("--expires '0d': must be between 1s and 366d");
    expect(zero.output).not.toContain('expiresIn');
  });

  it('agent ticket --expires says the range it accepts, never a wire field', async () => {
    const short = await cli(['agent', 'ticket', '--name', 'a-1', '--expires', '1s']);
    expect(short.code).toBe(2);
    expect(short.output).toContain("--expires '1s': must be between 10s and 1h");
    expect(short.output).not.toContain('ttlSeconds');

    const hour = await cli(['agent', 'ticket', '--name', 'a-1', '--expires', '1h']);
    expect(hour.code, hour.output).toBe(0);
  });

  it.each(['SIGTERM', 'SIGHUP'] as const)(
    'slipway run stopped by %s cancels its run, as Ctrl-C does',
    async (signal) => {
      // No agent serves `nowhere`, so the run waits in the queue until canceled.
      const dir = await workspace('pool: nowhere\nsteps:\n- script: echo never\n');
      await ts.client
        .request('pools', { token: ts.adminToken, body: { name: 'nowhere' } })
        .catch(() => undefined);
      const run = spawnCli(['run', '--dir', dir], env());
      await run.waitFor(/Run #(\d+) of azure-pipelines\.yml queued/);
      const number = /Run #(\d+) /.exec(run.output())![1]!;
      run.kill(signal);
      expect(await run.exited, run.output()).toBe(1);
      expect(run.output()).toContain(`Canceling the run (${signal} again to leave without waiting)`);
      const view = runView.parse((await ts.client.request(`runs/${number}`, { token: ts.adminToken })).body);
      expect(view.status).toBe('completed');
      expect(view.result).toBe('canceled');

      // Canceling it again says it is over, not "cancel requested (completed)".
      const again = await cli(['cancel', number]);
      expect(again.output).toBe(`run #${number} already finished (canceled); nothing to cancel\n`);
      expect(again.code).toBe(0);
    },
  );

  it('says "1 file" for a workspace of one file', async () => {
    await spawnAgent(ts, 'newuser-1');
    const dir = await workspace('steps:\n- script: echo done\n');
    const { code, output } = await cli(['run', '--dir', dir]);
    expect(code, output).toBe(0);
    expect(output).toMatch(/Workspace: 1 file, \d+ bytes/);
  });

  it('slipway fleet with SLIPWAY_URL asks for --socket rather than looking in ./.slipway', async () => {
    const { code, output } = await cli(['fleet']);
    expect(code).toBe(2);
    expect(output).toContain(
      `slipway fleet needs the Unix socket of the server at ${ts.url}: agents reach the server through it; pass --socket PATH`,
    );
    expect(output).not.toContain('.slipway/agent.sock');
  });
});

describe('a server started with --port and --data', () => {
  let data: string;
  let port: number;
  let server: Proc;

  beforeAll(async () => {
    data = join(await tempDir(), 'data');
    port = await freePort();
    server = await spawnServer(data, port);
  });
  afterAll(async () => {
    await killAll();
  });

  it('is found by the CLI through --data alone: the address it recorded there', async () => {
    const list = spawnCli(['pool', 'list', '--data', data]);
    expect(await list.exited, list.output()).toBe(0);
    expect(list.output()).toMatch(/^default\t/m);
  });

  it('keeps a second server off its data directory (exit 2), and a SIGKILLed one does not block a restart', async () => {
    const second = spawnCli(['server', '--port', String(await freePort()), '--data', data]);
    expect(await second.exited, second.output()).toBe(2);
    expect(second.output()).toContain(`data directory ${data} in use by pid ${server.child.pid}`);
    noStackTrace(second.output());
    // The first one still serves.
    const list = spawnCli(['pool', 'list', '--data', data]);
    expect(await list.exited, list.output()).toBe(0);

    server.kill('SIGKILL');
    await server.exited;
    server = await spawnServer(data, port);
    expect(await readFile(join(data, 'server.lock'), 'utf8')).toBe(`${server.child.pid}\n`);
  });

  it('slipway run says "reconnecting" once while its server restarts', async () => {
    const dir = await workspace('pool: nowhere\nsteps:\n- script: echo never\n');
    const token = (await readFile(join(data, 'admin.token'), 'utf8')).trim();
    const pools = spawnCli(['pool', 'create', 'nowhere', '--data', data]);
    await pools.exited;
    const run = spawnCli(['run', '--dir', dir, '--data', data]);
    await run.waitFor(/Run #(\d+) of azure-pipelines\.yml queued/);
    const number = /Run #(\d+) /.exec(run.output())![1]!;

    server.kill('SIGKILL');
    await server.exited;
    await run.waitFor(/connection lost; reconnecting/);
    // Down long enough for several retries (each waits at most 0.4 s, 0.8 s, 1.6 s, …).
    await new Promise((r) => setTimeout(r, 3000));
    server = await spawnServer(data, port);
    const cancel = spawnCli(['cancel', number], {
      SLIPWAY_URL: `http://127.0.0.1:${port}`,
      SLIPWAY_TOKEN: token,
    });
    expect(await cancel.exited, cancel.output()).toBe(0);
    expect(await run.exited, run.output()).toBe(1);
    expect(run.output().match(/connection lost; reconnecting/g)).toHaveLength(1);
  });
});

describe('stopping a server', () => {
  it('while a slipway run follows a queued run: clean, without an error from a closed store', async () => {
    const data = join(await tempDir(), 'data');
    const server = await spawnServer(data, await freePort(), ['--log-level', 'info']);
    const dir = await workspace('pool: nowhere\nsteps:\n- script: echo never\n');
    expect(await spawnCli(['pool', 'create', 'nowhere', '--data', data]).exited).toBe(0);
    const run = spawnCli(['run', '--dir', dir, '--data', data]);
    await run.waitFor(/Run #(\d+) of azure-pipelines\.yml queued/);
    // The run's feed is long-polled: a request is waiting in the server now.
    await new Promise((r) => setTimeout(r, 500));
    server.kill('SIGTERM');
    expect(await server.exited, server.output()).toBe(0);
    expect(server.output()).not.toContain('The database connection is not open');
    expect(server.output()).not.toContain('"level":50');
  });
});
