import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiClient } from '../protocol/client.js';
import { createLogger } from '../shared/logger.js';
import { killAll, type Proc, spawnAgentAt, spawnCli } from '../test-support/harness.js';
import { type SlipwayServer, startServer } from './server.js';

// Operators follow a run through the logs of the server and its agents by ids, and a log is
// never where a secret or a credential leaks.
const SECRET = 'hunter2-is-not-a-password';
const lines: string[] = [];
let server: SlipwayServer;
let dir: string;
let admin: string;
let pat: string;
let agent: Proc;

type Entry = Record<string, unknown> & { msg: string };
const entries = (text: string): Entry[] =>
  text.split('\n').flatMap((l) => {
    if (!l.startsWith('{')) return [];
    try {
      return [JSON.parse(l) as Entry];
    } catch {
      return [];
    }
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-logs-'));
  server = await startServer({
    config: { port: 0, dataDir: join(dir, 'data'), logLevel: 'trace' },
    logger: createLogger({
      level: 'trace',
      name: 'server',
      destination: { write: (s: string) => lines.push(s) },
    }),
  });
  admin = (await readFile(server.adminTokenFile, 'utf8')).trim();
  const client = new ApiClient(server.url);
  pat = (await client.createToken({ scopes: ['agent:register'] }, { token: admin })).token;
  agent = await spawnAgentAt(server.url, pat, 'logger-1', join(dir, 'work'), {
    env: { SLIPWAY_LOG_LEVEL: 'debug' },
  });
});
afterAll(async () => {
  await killAll();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

it('carries run, job and agent ids, and never a secret, a token or a ticket', async () => {
  const ws = join(dir, 'ws');
  await import('node:fs/promises').then((fs) => fs.mkdir(ws, { recursive: true }));
  await writeFile(
    join(ws, 'azure-pipelines.yml'),
    `steps:\n- bash: echo "the secret is $TOKEN"; echo "##vso[task.setvariable variable=x;isOutput=true]$TOKEN"; exit 1\n  name: s\n  env: { TOKEN: $(apiKey) }\n`,
  );
  const run = spawnCli(['run', '--dir', ws, '--secret', `apiKey=${SECRET}`], {
    SLIPWAY_URL: server.url,
    SLIPWAY_TOKEN: admin,
  });
  expect(await run.exited).toBe(1);
  expect(run.output()).toContain('the secret is ***');

  const serverLog = lines.join('');
  const agentLog = agent.output();
  for (const text of [serverLog, agentLog]) {
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(Buffer.from(SECRET).toString('base64'));
    expect(text).not.toContain(admin);
    expect(text).not.toContain(pat);
  }

  const s = entries(serverLog);
  const queued = s.find((e) => e.msg === 'run queued')!;
  expect(queued.runId).toMatch(/^run_/);
  const finished = s.find((e) => e.msg === 'job finished')!;
  expect(finished).toMatchObject({
    runId: queued.runId,
    jobId: expect.stringMatching(/^job_/),
    result: 'failed',
  });
  const registered = s.find((e) => e.msg === 'agent registered')!;
  expect(registered.agentId).toEqual(expect.any(String));
  expect(finished.agentId).toBe(registered.agentId);
  expect(s.find((e) => e.msg === 'run finished')).toMatchObject({ runId: queued.runId, result: 'failed' });

  const a = entries(agentLog);
  const started = a.find((e) => e.msg === 'job started')!;
  expect(started).toMatchObject({ runId: queued.runId, jobId: finished.jobId, agentId: registered.agentId });
});
