// biome-ignore-all lint/suspicious/noExplicitAny: the manifests are read as loose JSON and checked field by field
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Namespace, PersistentVolumeClaim, Service, ServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { FakeKubeApiServer } from '../../test-support/fake-kube-api-server.js';
import { ROOT } from '../../test-support/harness.js';
import { KubernetesDriver } from './kubernetes.js';
import { KubernetesClient, serverTarget } from './kubernetes-client.js';

const DIR = join(ROOT, 'deploy', 'kubernetes');
/** The manifests every variant shares; `DIR` (one server) and `replicas/` build on them. */
const BASE = join(DIR, 'base');

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
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

function manifests(): Manifest[] {
  const kustomization = parse(readFileSync(join(BASE, 'kustomization.yaml'), 'utf8')) as {
    resources: string[];
  };
  const files = readdirSync(BASE).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  // Every file is part of the kustomization: nothing lies beside it unapplied.
  expect([...kustomization.resources].sort()).toEqual(files.sort());
  return kustomization.resources.flatMap((file) =>
    parseAllDocuments(readFileSync(join(BASE, file), 'utf8')).map((doc) => {
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

const ids = (list: Manifest[]) =>
  list.map((m) => `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`).sort();

/** What `kubectl kustomize DIR` makes of a kustomization (offline: no cluster is asked). */
function render(dir: string): Manifest[] {
  return parseAllDocuments(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })).map(
    (d) => d.toJS() as Manifest,
  );
}

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
    const rendered = render(DIR);
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
    const client = new KubernetesClient(serverTarget({ server: fake.url, namespace: 'slipway-jobs' }));
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

  it('the server: readiness on /healthz, PostgreSQL settings from a Secret, a Service on its two ports', () => {
    const server = find('Deployment', 'slipway-server');
    const c = server.spec.template.spec.containers[0];
    expect(c.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.args).toEqual([
      'server',
      '--host',
      '0.0.0.0',
      '--port',
      '8420',
      '--agent-port',
      '8421',
      '--data',
      '/var/lib/slipway',
    ]);
    expect(c.ports).toEqual([
      { name: 'http', containerPort: 8420 },
      { name: 'agent', containerPort: 8421 },
    ]);
    const database = c.env.find((e: any) => e.name === 'SLIPWAY_DATABASE');
    expect(database.valueFrom.secretKeyRef).toMatchObject({ name: 'slipway-database', key: 'url' });
    expect(c.env.every((e: any) => e.value === undefined)).toBe(true);
    expect(server.spec.template.spec.automountServiceAccountToken).toBe(false);
    const service = find('Service', 'slipway-server');
    expect(service.spec.selector).toEqual(server.spec.selector.matchLabels);
    expect(service.spec.ports).toEqual([
      { name: 'http', port: 8420, targetPort: 'http' },
      { name: 'agent', port: 8421, targetPort: 'agent' },
    ]);
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
    // Job pods get the agent port; the fleet itself (tickets, demand) the main one.
    expect(args[args.indexOf('--agent-url') + 1]).toBe(
      'http://slipway-server.slipway.svc.cluster.local:8421',
    );
    const url = pod.containers[0].env.find((e: any) => e.name === 'SLIPWAY_URL');
    expect(url.value).toBe('http://slipway-server.slipway.svc.cluster.local:8420');
    const token = pod.containers[0].env.find((e: any) => e.name === 'SLIPWAY_TOKEN');
    expect(token.valueFrom.secretKeyRef.name).toBe('slipway-fleet-token');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(
      Number(args[args.indexOf('--drain-timeout') + 1]),
    );
  });

  it('job pods: no ingress; egress to the agent port and DNS, never to the admin API, metadata or cluster addresses', () => {
    const policy = find('NetworkPolicy', 'slipway-jobs');
    expect(policy.metadata.namespace).toBe('slipway-jobs');
    expect(policy.spec.podSelector).toEqual({});
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec.ingress).toEqual([]);
    const [coordinator, dns, internet] = policy.spec.egress;
    expect(coordinator.to[0].podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'slipway-server' });
    // The agent port alone: the port that serves the admin API is not among the job pods' ways out.
    expect(coordinator.ports).toEqual([{ protocol: 'TCP', port: 8421 }]);
    const agentPort = find('Deployment', 'slipway-server').spec.template.spec.containers[0].ports.find(
      (p: any) => p.name === 'agent',
    );
    expect(agentPort.containerPort).toBe(8421);
    expect(policy.spec.egress.flatMap((e: any) => e.ports ?? []).map((p: any) => p.port)).not.toContain(8420);
    expect(find('NetworkPolicy', 'slipway-server').spec.ingress[0].ports).toEqual([
      { protocol: 'TCP', port: 8420 },
      { protocol: 'TCP', port: 8421 },
    ]);
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

// The overlay exists only as kustomize patches: without kubectl there is nothing to check.
describe.skipIf(!hasKubectl())('deploy/kubernetes/replicas (kubectl kustomize, offline)', () => {
  const rendered = hasKubectl() ? render(join(DIR, 'replicas')) : [];
  const get = (kind: string, name: string) => {
    const m = rendered.find((x) => x.kind === kind && x.metadata.name === name);
    if (!m) throw new Error(`no ${kind} ${name}`);
    return m as Manifest & { spec: any };
  };
  const server = () => get('Deployment', 'slipway-server');

  it('every rendered object passes the Kubernetes schemas', () => {
    for (const m of rendered) {
      const Model = MODELS[`${m.apiVersion}/${m.kind}`];
      expect(Model, `${m.apiVersion} ${m.kind}`).toBeDefined();
      new Model!(m as never).validate();
    }
  });

  it('the base, less its data volume, plus a PodDisruptionBudget', () => {
    const expected = ids(all)
      .filter((id) => id !== 'PersistentVolumeClaim/slipway/slipway-data')
      .concat('PodDisruptionBudget/slipway/slipway-server')
      .sort();
    expect(ids(rendered)).toEqual(expected);
    // The RBAC and the network policies are the base's, unchanged; the fleet too, but for the
    // Secret its admin token comes from (checked below).
    for (const [kind, name] of [
      ['Role', 'slipway-fleet'],
      ['NetworkPolicy', 'slipway-jobs'],
      ['NetworkPolicy', 'slipway-server'],
    ] as const) {
      const { metadata: _m, ...mine } = get(kind, name);
      const { metadata: _b, ...base } = find(kind, name);
      expect(JSON.parse(JSON.stringify(mine)), `${kind} ${name}`).toEqual(JSON.parse(JSON.stringify(base)));
    }
  });

  it('the server: 2+ replicas, rolled one at a time with none down, spread over nodes, no disk of its own', () => {
    const spec = server().spec;
    expect(spec.replicas).toBeGreaterThanOrEqual(2);
    expect(spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    const pod = spec.template.spec;
    expect(pod.volumes.filter((v: any) => v.persistentVolumeClaim)).toEqual([]);
    expect(pod.volumes.find((v: any) => v.name === 'data').emptyDir).toBeDefined();
    expect(pod.topologySpreadConstraints[0].labelSelector.matchLabels).toEqual(spec.selector.matchLabels);
    // Long polls (50 s) end before the replica is killed.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(50);
    const c = pod.containers[0];
    expect(c.args).toContain('--agent-port');
    expect(c.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
  });

  it('the server: PostgreSQL, the shared secret key and S3 blobs from Secrets that must exist, nothing in clear', () => {
    const env: any[] = server().spec.template.spec.containers[0].env;
    const refs = Object.fromEntries(env.map((e) => [e.name, e.valueFrom?.secretKeyRef]));
    expect(refs).toEqual({
      SLIPWAY_DATABASE: { name: 'slipway-database', key: 'url', optional: false },
      SLIPWAY_SECRET_KEY: { name: 'slipway-database', key: 'secret-key', optional: false },
      SLIPWAY_BLOBS: { name: 'slipway-blobs', key: 'url' },
      AWS_ACCESS_KEY_ID: { name: 'slipway-blobs', key: 'access-key-id' },
      AWS_SECRET_ACCESS_KEY: { name: 'slipway-blobs', key: 'secret-access-key' },
    });
    expect(env.every((e) => e.value === undefined)).toBe(true);
  });

  it('one admin token for every replica and the fleet: a Secret mounted read-only, given by --admin-token-file', () => {
    const pod = server().spec.template.spec;
    const volume = pod.volumes.find((v: any) => v.secret?.secretName === 'slipway-admin-token');
    expect(volume).toBeDefined();
    expect(volume.secret.defaultMode & 0o007).toBe(0);
    const c = pod.containers[0];
    const mount = c.volumeMounts.find((m: any) => m.name === volume.name);
    expect(mount.readOnly).toBe(true);
    const i = c.args.indexOf('--admin-token-file');
    expect(i).toBeGreaterThan(0);
    expect(c.args[i + 1]).toBe(`${mount.mountPath}/token`);
    const fleet = get('Deployment', 'slipway-fleet');
    const { metadata: _m, ...mine } = fleet;
    const { metadata: _b, ...base } = find('Deployment', 'slipway-fleet');
    const expected = JSON.parse(JSON.stringify({ ...base, ...imageTagged(base) }));
    const token = expected.spec.template.spec.containers[0].env.find((e: any) => e.name === 'SLIPWAY_TOKEN');
    token.valueFrom.secretKeyRef.name = 'slipway-admin-token';
    expect(JSON.parse(JSON.stringify(mine))).toEqual(expected);
  });

  it('a PodDisruptionBudget keeps a replica up and selects only the server', () => {
    const pdb = get('PodDisruptionBudget', 'slipway-server').spec;
    expect(pdb.selector.matchLabels).toEqual(server().spec.selector.matchLabels);
    expect(pdb.minAvailable).toBeGreaterThanOrEqual(1);
    expect(pdb.minAvailable).toBeLessThan(server().spec.replicas);
  });
});

/** The base Deployment as kustomize's `images` leaves it: the image gets its tag. */
function imageTagged(base: { spec: any }): object {
  const spec = structuredClone(base.spec);
  for (const c of spec.template.spec.containers) if (!c.image.includes(':')) c.image = `${c.image}:latest`;
  return { spec };
}
