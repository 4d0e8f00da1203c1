import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { inClusterConnection, KubeConfigError, parseKubeconfig } from './kubernetes-client.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function kubeconfig(user: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'work',
    clusters: [
      { name: 'other', cluster: { server: 'https://other:6443' } },
      {
        name: 'prod',
        cluster: { server: 'https://k8s.example:6443/', 'certificate-authority-data': b64('CA PEM') },
      },
    ],
    contexts: [{ name: 'work', context: { cluster: 'prod', user: 'fleet', namespace: 'ci', ...extra } }],
    users: [{ name: 'fleet', user }],
  });
}

describe('kubeconfig', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['a token', { token: 'abc' }, { token: 'abc' }],
    [
      'a client certificate',
      { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
      { cert: 'CERT', key: 'KEY' },
    ],
    ['a token file', { tokenFile: '/var/run/token' }, { tokenFile: '/var/run/token' }],
  ])('reads the current context with %s', (_name, user, expected) => {
    expect(parseKubeconfig(kubeconfig(user), 'kc')).toEqual({
      server: 'https://k8s.example:6443',
      namespace: 'ci',
      ca: 'CA PEM',
      ...expected,
    });
  });

  it('--namespace wins over the context', () => {
    expect(parseKubeconfig(kubeconfig({ token: 't' }), 'kc', { namespace: 'jobs' }).namespace).toBe('jobs');
  });

  it.each<[string, string, RegExp]>([
    [
      'an exec plugin',
      kubeconfig({ exec: { command: 'aws' } }),
      /kc: user 'fleet' authenticates through a plugin/,
    ],
    ['no current context', stringify({ clusters: [] }), /kc: no current-context/],
    [
      'a missing cluster',
      kubeconfig({ token: 't' }, { cluster: 'gone' }),
      /kc: clusters: no entry named 'gone'/,
    ],
    [
      'a certificate by file',
      kubeconfig({ 'client-certificate': '/home/me/cert.pem' }),
      /client-certificate names a file; only inline \*-data is read/,
    ],
    ['text that is not YAML', 'a: [b', /kc: not YAML/],
  ])('refuses %s, naming the file and the field', (_name, text, message) => {
    expect(() => parseKubeconfig(text, 'kc')).toThrow(KubeConfigError);
    expect(() => parseKubeconfig(text, 'kc')).toThrow(message);
  });

  it("in a pod: the service account's token file, CA and namespace", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-sa-'));
    await writeFile(join(dir, 'ca.crt'), 'CLUSTER CA\n');
    await writeFile(join(dir, 'namespace'), 'slipway\n');
    await writeFile(join(dir, 'token'), 'sa-token\n');
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    expect(await inClusterConnection(env, { dir })).toEqual({
      server: 'https://10.96.0.1:443',
      namespace: 'slipway',
      ca: 'CLUSTER CA',
      tokenFile: join(dir, 'token'),
    });
    await expect(inClusterConnection({}, { dir })).rejects.toThrow(/not running in a Kubernetes pod/);
  });
});
