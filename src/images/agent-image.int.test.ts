import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT, runCli, startTestServer, type TestServer } from '../test-support/harness.js';
import { AGENT_IMAGE, buildImages } from './index.js';

const docker = new Docker();
const runId = randomBytes(6).toString('hex');
let ts: TestServer;
let socketDir: string;
let container: Docker.Container | undefined;

beforeAll(async () => {
  const bundle = join(ROOT, 'dist', 'agent', 'slipway-agent.mjs');
  if (!existsSync(bundle)) throw new Error('build first: npm run build');
  await buildImages({ docker, agentBundlePath: bundle });
  socketDir = await mkdtemp(join(tmpdir(), 'slipway-sock-'));
  ts = await startTestServer({ socketPath: join(socketDir, 'agent.sock') });
}, 180_000);

afterAll(async () => {
  await container?.remove({ force: true }).catch(() => undefined);
  await ts.stop();
  await rm(socketDir, { recursive: true, force: true });
});

it('runs on its own with the AZP_* contract: one job with --once, the token kept from the job, deregistered on exit', async () => {
  const pat = await ts.pat();
  container = await docker.createContainer({
    Image: AGENT_IMAGE,
    Cmd: ['--once'],
    Env: [
      'AZP_URL=unix:///run/slipway/agent.sock',
      `AZP_TOKEN=${pat}`,
      'AZP_POOL=default',
      'AZP_AGENT_NAME=docker-1',
      'AZP_WORK=/tmp/work',
    ],
    Labels: { 'slipway.managed': 'true', 'slipway.test': runId },
    HostConfig: { Binds: [`${socketDir}:/run/slipway`] },
  });
  await container.start();
  const dir = await mkdtemp(join(tmpdir(), 'slipway-ws-'));
  await writeFile(
    join(dir, 'azure-pipelines.yml'),
    'steps:\n- script: |\n    echo "on $(Agent.Name)"\n    echo "token in env: $(env | grep -c slw_pat_ || true)"\n',
  );
  const { code, output } = await runCli(ts, ['--dir', dir]);
  expect(output).toContain('on docker-1');
  expect(output).toContain('token in env: 0');
  expect(code).toBe(0);
  expect((await container.wait()).StatusCode).toBe(0);
  const { body } = await ts.client.request<{ name: string }[]>('agents', { token: ts.adminToken });
  expect(body.map((a) => a.name)).not.toContain('docker-1');
}, 120_000);
