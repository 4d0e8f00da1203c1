import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { FakeKubeApiServer } from '../../test-support/fake-kube-api-server.js';
import { killAll, spawnCli, startTestServer, type TestServer } from '../../test-support/harness.js';
import { waitFor } from '../fleet-test-support.js';

let ts: TestServer | undefined;
let fake: FakeKubeApiServer | undefined;

afterEach(async () => {
  await killAll();
  await fake?.stop();
  await ts?.stop();
  fake = undefined;
  ts = undefined;
});

async function kubeconfig(server: string, token: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-kc-'));
  const file = join(dir, 'config');
  await writeFile(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'test',
      clusters: [{ name: 'fake', cluster: { server } }],
      contexts: [{ name: 'test', context: { cluster: 'fake', user: 'fleet', namespace: 'from-context' } }],
      users: [{ name: 'fleet', user: { token } }],
    }),
  );
  return file;
}

describe('slipway fleet --driver kubernetes, against a fake API server', () => {
  it('keeps a warm pod in the namespace, then deletes it on SIGTERM', async () => {
    ts = await startTestServer();
    fake = await FakeKubeApiServer.start({ token: 'sa' });
    const file = await kubeconfig(fake.url, 'sa');
    const fleet = spawnCli(
      [
        'fleet',
        '--driver',
        'kubernetes',
        '--kubeconfig',
        file,
        '--namespace',
        'ci',
        '--agent-url',
        'http://slipway-server:8420',
        '--min-idle',
        '1',
        // Its agent never runs (the fake kubelet runs no containers): nothing to wait for.
        '--drain-timeout',
        '1',
        '--fleet-id',
        'cli-test',
      ],
      { SLIPWAY_URL: ts.url, SLIPWAY_TOKEN: ts.adminToken },
    );
    await fleet.waitFor(/Fleet cli-test: pool 'default', pods in namespace ci of http:\/\/127\.0\.0\.1:\d+/);
    await waitFor(async () => fake!.pods('ci').length === 1, 'a warm pod');
    const pod = fake.pods('ci')[0]!;
    expect(pod.spec?.containers[0]?.command).toContain('http://slipway-server:8420');
    expect(fake.pods('from-context')).toEqual([]);
    fleet.kill('SIGTERM');
    expect(await fleet.exited).toBe(0);
    expect(fake.pods('ci')).toEqual([]);
  });

  it.each<[string, (url: string) => Promise<string[]>, number, RegExp]>([
    [
      'no Kubernetes configuration at all',
      async () => [],
      2,
      /no Kubernetes configuration: pass --kubeconfig FILE, set KUBECONFIG, or run the fleet in a pod/,
    ],
    [
      'a kubeconfig that is not there',
      async () => ['--kubeconfig', '/nonexistent/kc'],
      2,
      /cannot read kubeconfig \/nonexistent\/kc/,
    ],
    [
      'an API server that refuses the credentials',
      async (url) => ['--kubeconfig', await kubeconfig(url, 'wrong')],
      3,
      /cannot list pods in namespace from-context: .*401/,
    ],
    [
      'a Unix-socket agent URL',
      async () => ['--agent-url', 'unix:///run/slipway.sock'],
      2,
      /job pods reach the server by HTTP\(S\)/,
    ],
  ])('exits clearly on %s', async (_name, args, code, message) => {
    ts = await startTestServer();
    fake = await FakeKubeApiServer.start({ token: 'sa' });
    const p = spawnCli(['fleet', '--driver', 'kubernetes', ...(await args(fake.url))], {
      SLIPWAY_URL: ts.url,
      SLIPWAY_TOKEN: ts.adminToken,
      HOME: '/nonexistent',
    });
    expect(await p.exited).toBe(code);
    expect(p.output()).toMatch(message);
  });
});
