// biome-ignore-all lint/suspicious/noExplicitAny: the manifests are read as loose JSON and checked field by field
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Namespace, PersistentVolumeClaim, Service, ServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { FakeKubeApiServer } from '../../test-support/fake-kube-api-server.js';
import { ROOT } from '../../test-support/harness.js';
import { KubernetesDriver } from './kubernetes.js';
import { KubernetesClient } from './kubernetes-client.js';

const DIR = join(ROOT, 'deploy', 'kubernetes');

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

function manifests(): Manifest[] {
  const kustomization = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as {
    resources: string[];
  };
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  // Every file is part of the kustomization: nothing lies beside it unapplied.
  expect([...kustomization.resources].sort()).toEqual(files.sort());
  return kustomization.resources.flatMap((file) =>
    parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => {
      expect(doc.errors, file).toEqual([]);
      return doc.toJS() as Manifest;
    }),
  );
}

const all = manifests();
const find = (kind: string, name: string) => {
  const m = all.find((x) => x.kind === kind && x.metadata.name === name);
  if (!m) throw new Error(`no ${kind} ${name}`);
  return m as Manifest & { spec: any; rules?: any[] };
};

function hasKubectl(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('deploy/kubernetes', () => {
  it('every manifest passes the Kubernetes schemas', () => {
    expect(all.length).toBeGreaterThanOrEqual(12);
    for (const m of all) {
      const Model = MODELS[`${m.apiVersion}/${m.kind}`];
      expect(Model, `${m.apiVersion} ${m.kind}`).toBeDefined();
      new Model!(m as never).validate();
    }
  });

  it.skipIf(!hasKubectl())('kustomize renders the same objects (kubectl kustomize, offline)', () => {
    const rendered = parseAllDocuments(execFileSync('kubectl', ['kustomize', DIR], { encoding: 'utf8' })).map(
      (d) => d.toJS() as Manifest,
    );
    const ids = (list: Manifest[]) =>
      list.map((m) => `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`).sort();
    expect(ids(rendered)).toEqual(ids(all));
    for (const m of rendered) new MODELS[`${m.apiVersion}/${m.kind}`]!(m as never).validate();
  });

  it('the RBAC is least: one namespaced Role, no wildcard, no cluster-wide rights, Secrets never read', () => {
    expect(all.filter((m) => m.kind.startsWith('Cluster'))).toEqual([]);
    const roles = all.filter((m) => m.kind === 'Role');
    expect(roles.map((r) => `${r.metadata.namespace}/${r.metadata.name}`)).toEqual([
      'slipway-jobs/slipway-fleet',
    ]);
    const rules = find('Role', 'slipway-fleet').rules as Array<{
      apiGroups: string[];
      resources: string[];
      verbs: string[];
    }>;
    for (const rule of rules) {
      expect([...rule.apiGroups, ...rule.resources, ...rule.verbs]).not.toContain('*');
      expect(rule.apiGroups).toEqual(['']);
    }
    const verbs = Object.fromEntries(
      rules.flatMap((r) => r.resources.map((res) => [res, [...r.verbs].sort()])),
    );
    expect(verbs).toEqual({
      pods: ['create', 'delete', 'list', 'watch'],
      'pods/log': ['get'],
      secrets: ['create', 'delete'],
    });
    const binding = find('RoleBinding', 'slipway-fleet');
    expect((binding as any).subjects).toEqual([
      { kind: 'ServiceAccount', name: 'slipway-fleet', namespace: 'slipway' },
    ]);
    expect((binding as any).roleRef).toMatchObject({ kind: 'Role', name: 'slipway-fleet' });
  });

  it('the driver needs no more than the Role grants (its requests to a fake API server, as verbs)', async () => {
    const rules = find('Role', 'slipway-fleet').rules as Array<{ resources: string[]; verbs: string[] }>;
    const allowed = new Set(
      rules.flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${res}`))),
    );
    const fake = await FakeKubeApiServer.start();
    const client = new KubernetesClient({ server: fake.url, namespace: 'slipway-jobs' });
    const driver = new KubernetesDriver({ client, serverUrl: 'http://slipway-server:8420' });
    try {
      await driver.prepare('f');
      const unit = {
        unitId: 'u1',
        fleetId: 'f',
        pool: 'default',
        agentName: 'default-1',
        image: 'x',
        services: {},
      };
      await driver.start({ ...unit, ticket: Promise.resolve('t') });
      await driver.logs('u1', 10);
      await driver.list('f');
      await driver.stop('u1', 1);
      await driver.wait('u1');
      await driver.remove('u1');
      await driver.gc('f', new Set());
    } finally {
      await driver.teardown();
      await client.close();
      await fake.stop();
    }
    const used = new Set(
      fake.requests.map((r) => {
        const m = /\/namespaces\/[^/]+\/(pods|secrets)(\/[^/]+)?(\/log)?$/.exec(r.path)!;
        const resource = `${m[1]}${m[3] ?? ''}`;
        const verb =
          r.method === 'POST'
            ? 'create'
            : r.method === 'DELETE'
              ? 'delete'
              : r.query.get('watch') === 'true'
                ? 'watch'
                : m[2]
                  ? 'get'
                  : 'list';
        return `${verb} ${resource}`;
      }),
    );
    expect([...used].filter((u) => !allowed.has(u))).toEqual([]);
    expect([...used].sort()).toEqual([...allowed].sort());
  });

  it('the server: readiness on /healthz, PostgreSQL settings from a Secret, a Service on its port', () => {
    const server = find('Deployment', 'slipway-server');
    const c = server.spec.template.spec.containers[0];
    expect(c.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.args).toEqual(['server', '--host', '0.0.0.0', '--port', '8420', '--data', '/var/lib/slipway']);
    const database = c.env.find((e: any) => e.name === 'SLIPWAY_DATABASE');
    expect(database.valueFrom.secretKeyRef).toMatchObject({ name: 'slipway-database', key: 'url' });
    expect(c.env.every((e: any) => e.value === undefined)).toBe(true);
    expect(server.spec.template.spec.automountServiceAccountToken).toBe(false);
    const service = find('Service', 'slipway-server');
    expect(service.spec.selector).toEqual(server.spec.selector.matchLabels);
    expect(service.spec.ports).toEqual([{ name: 'http', port: 8420, targetPort: 'http' }]);
  });

  it('the fleet: a ServiceAccount, one replica replaced by Recreate, jobs in their own namespace, the token from a Secret', () => {
    const fleet = find('Deployment', 'slipway-fleet');
    expect(fleet.spec.replicas).toBe(1);
    expect(fleet.spec.strategy.type).toBe('Recreate');
    const pod = fleet.spec.template.spec;
    expect(pod.serviceAccountName).toBe('slipway-fleet');
    const args: string[] = pod.containers[0].args;
    expect(args.slice(0, 3)).toEqual(['fleet', '--driver', 'kubernetes']);
    expect(args[args.indexOf('--namespace') + 1]).toBe('slipway-jobs');
    expect(args[args.indexOf('--agent-url') + 1]).toMatch(/^http:\/\/slipway-server\./);
    const token = pod.containers[0].env.find((e: any) => e.name === 'SLIPWAY_TOKEN');
    expect(token.valueFrom.secretKeyRef.name).toBe('slipway-fleet-token');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(
      Number(args[args.indexOf('--drain-timeout') + 1]),
    );
  });

  it('job pods: no ingress; egress to the coordinator port and DNS, never to metadata or cluster addresses', () => {
    const policy = find('NetworkPolicy', 'slipway-jobs');
    expect(policy.metadata.namespace).toBe('slipway-jobs');
    expect(policy.spec.podSelector).toEqual({});
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec.ingress).toEqual([]);
    const [coordinator, dns, internet] = policy.spec.egress;
    expect(coordinator.to[0].podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'slipway-server' });
    expect(coordinator.ports).toEqual([{ protocol: 'TCP', port: 8420 }]);
    expect(dns.ports.map((p: any) => p.port)).toEqual([53, 53]);
    const v4 = internet.to.find((t: any) => t.ipBlock.cidr === '0.0.0.0/0').ipBlock;
    expect(v4.except).toEqual(
      expect.arrayContaining(['169.254.0.0/16', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']),
    );
    const v6 = internet.to.find((t: any) => t.ipBlock.cidr === '::/0').ipBlock;
    expect(v6.except).toContain('fd00::/8');
    // The fleet, which holds the admin token, takes no connections at all.
    expect(find('NetworkPolicy', 'slipway-fleet').spec).toMatchObject({
      policyTypes: ['Ingress'],
      ingress: [],
    });
  });
});
