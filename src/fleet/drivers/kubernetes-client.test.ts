import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { FakeKubeApiServer } from '../../test-support/fake-kube-api-server.js';
import { inClusterTarget, KubeConfigError, KubernetesClient, kubeconfigTarget } from './kubernetes-client.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

async function kubeconfig(
  user: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  server = 'https://k8s.example:6443',
) {
  const file = join(await mkdtemp(join(tmpdir(), 'slipway-kc-')), 'config');
  await writeFile(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'work',
      clusters: [
        { name: 'other', cluster: { server: 'https://other:6443' } },
        {
          name: 'prod',
          cluster: server.startsWith('http:')
            ? { server, 'insecure-skip-tls-verify': true }
            : { server, 'certificate-authority-data': b64('CA PEM') },
        },
      ],
      contexts: [{ name: 'work', context: { cluster: 'prod', user: 'fleet', namespace: 'ci', ...extra } }],
      users: [{ name: 'fleet', user }],
    }),
  );
  return file;
}

describe('kubeconfig', () => {
  it("reads the current context's cluster, user and namespace; --namespace wins", async () => {
    const file = await kubeconfig({ token: 'abc' });
    const target = kubeconfigTarget(file);
    expect(target.namespace).toBe('ci');
    expect(target.config.getCurrentCluster()?.server).toBe('https://k8s.example:6443');
    expect(target.config.getCurrentUser()?.token).toBe('abc');
    expect(kubeconfigTarget(file, { namespace: 'jobs' }).namespace).toBe('jobs');
  });

  it('sends the kubeconfig user’s token to the API server (fake API server)', async () => {
    const fake = await FakeKubeApiServer.start({ token: 'abc' });
    try {
      const file = await kubeconfig({ token: 'abc' }, {}, fake.url);
      const client = new KubernetesClient(kubeconfigTarget(file));
      expect((await client.listPods('slipway.dev/managed=true')).items).toEqual([]);
      const wrong = new KubernetesClient(kubeconfigTarget(await kubeconfig({ token: 'nope' }, {}, fake.url)));
      await expect(wrong.listPods('slipway.dev/managed=true')).rejects.toMatchObject({ status: 401 });
    } finally {
      await fake.stop();
    }
  });

  it('runs an exec plugin for its token, as kubectl does (EKS, GKE; fake API server)', async () => {
    const fake = await FakeKubeApiServer.start({ token: 'from-plugin' });
    try {
      const credential = JSON.stringify({
        apiVersion: 'client.authentication.k8s.io/v1beta1',
        kind: 'ExecCredential',
        status: { token: 'from-plugin' },
      });
      const exec = {
        apiVersion: 'client.authentication.k8s.io/v1beta1',
        command: '/bin/sh',
        args: ['-c', `echo '${credential}'`],
      };
      const client = new KubernetesClient(kubeconfigTarget(await kubeconfig({ exec }, {}, fake.url)));
      expect((await client.listPods('slipway.dev/managed=true')).items).toEqual([]);
    } finally {
      await fake.stop();
    }
  });

  it.each<[string, () => Promise<string>, RegExp]>([
    [
      'no current context',
      async () => {
        const file = join(await mkdtemp(join(tmpdir(), 'slipway-kc-')), 'config');
        await writeFile(file, stringify({ apiVersion: 'v1', kind: 'Config', clusters: [] }));
        return file;
      },
      /config: no current-context/,
    ],
    [
      'a missing cluster',
      () => kubeconfig({ token: 't' }, { cluster: 'gone' }),
      /clusters: no entry named 'gone'/,
    ],
    [
      'a file that is not there',
      async () => join(tmpdir(), 'slipway-no-such-kubeconfig'),
      /cannot read kubeconfig/,
    ],
  ])('refuses %s, naming the file', async (_name, make, message) => {
    const file = await make();
    expect(() => kubeconfigTarget(file)).toThrow(KubeConfigError);
    expect(() => kubeconfigTarget(file)).toThrow(message);
  });

  it("in a pod: the service account's token file, CA and namespace", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-sa-'));
    await writeFile(join(dir, 'ca.crt'), 'CLUSTER CA\n');
    await writeFile(join(dir, 'namespace'), 'slipway\n');
    await writeFile(join(dir, 'token'), 'sa-token\n');
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const target = await inClusterTarget(env, { dir });
    expect(target.namespace).toBe('slipway');
    const cluster = target.config.getCurrentCluster();
    expect(cluster?.server).toBe('https://10.96.0.1:443');
    expect(Buffer.from(cluster?.caData ?? '', 'base64').toString()).toBe('CLUSTER CA');
    expect(target.config.getCurrentUser()?.authProvider?.config.tokenFile).toBe(join(dir, 'token'));
    await expect(inClusterTarget({}, { dir })).rejects.toThrow(/not running in a Kubernetes pod/);
    await expect(inClusterTarget(env, { dir: join(dir, 'missing') })).rejects.toThrow(
      /cannot read the pod's service account/,
    );
  });
});
