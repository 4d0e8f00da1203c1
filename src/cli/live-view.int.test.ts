import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLI, killAll, spawnAgent, startTestServer, type TestServer } from '../test-support/harness.js';

// `slipway run` in a real pseudo-terminal (util-linux `script`): the live view there, and the
// plain lines when CI is set, as in every CI system's log.
let ts: TestServer;
let dir: string;

beforeAll(async () => {
  ts = await startTestServer();
  await spawnAgent(ts, 'live-1');
  dir = await mkdtemp(join(tmpdir(), 'slipway-live-'));
  await writeFile(
    join(dir, 'azure-pipelines.yml'),
    'jobs:\n- job: first\n  steps:\n  - bash: echo working; sleep 0.5\n    displayName: Work\n',
  );
});
afterAll(async () => {
  await killAll();
  await ts.stop();
});

/** `slipway run` with a terminal as its stdout; answers its exit code and all it wrote. */
async function inTerminal(env: Record<string, string> = {}) {
  const command = `${process.execPath} ${CLI} run --dir ${dir}`;
  const { spawn } = await import('node:child_process');
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TERM: 'xterm',
      SLIPWAY_URL: ts.url,
      SLIPWAY_TOKEN: ts.adminToken,
      COLUMNS: '100',
      LINES: '30',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  return { code, out };
}

it('draws a live view on a terminal: spinners, durations, why a job waits; then the summary', async () => {
  // The one agent is busy with another run: the job waits, and the view says why.
  const blocker = await ts.client.createRun(
    { pipeline: { file: 'b.yml', content: 'steps: [{ bash: sleep 2 }]\n' } },
    { token: ts.adminToken },
  );
  for (let i = 0; i < 200; i++) {
    const run = await ts.client.getRun(blocker.id, { token: ts.adminToken });
    if (run.jobs[0]!.status === 'running') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const { code, out } = await inTerminal();
  expect(code).toBe(0);
  const text = out.replace(/\x1b\[\d*m/g, ''); // colours off; cursor moves kept
  // Redrawn in place: cursor up and erase, and a spinner frame.
  expect(text).toMatch(/\x1b\[\d+F\x1b\[J/);
  expect(text).toMatch(/⧗ first {2}waiting {2}\S+ — waiting for an agent in pool 'default': 0 idle, 1 busy/);
  expect(text).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] first {2}running {2}\S+ on live-1/);
  expect(text).toMatch(/ {2}[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Work {2}\S+/);
  expect(text).toMatch(/✔ first {2}succeeded {2}\S+ on live-1/);
  expect(text).toMatch(/Run #\d+ succeeded/);
});

it('writes the plain lines on a terminal when CI is set', async () => {
  const { code, out } = await inTerminal({ CI: 'true' });
  expect(code).toBe(0);
  expect(out).not.toMatch(/\x1b\[\d+F/);
  const text = out.replace(/\x1b\[\d*m/g, '');
  expect(text).toMatch(/▶ first on live-1/);
  expect(text).toContain('│ working');
});
