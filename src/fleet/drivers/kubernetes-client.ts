import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { V1Pod, V1PodList, V1Secret, V1Status } from '@kubernetes/client-node';
import { Agent, type Dispatcher, request } from 'undici';
import { parse as parseYaml } from 'yaml';
import { SlipwayError } from '../../shared/errors.js';

/**
 * How to reach one Kubernetes API server, from a kubeconfig or the pod's service account.
 * `@kubernetes/client-node` 2.x cannot be loaded on Node 20 (its undici 8 needs Node ≥ 22.19),
 * so the driver speaks the few REST paths it needs itself, typed by that package's models.
 */
export interface KubeConnection {
  /** `https://host:port` (or `http://` for a local proxy or a test's fake API server). */
  server: string;
  /** Namespace of the job pods. */
  namespace: string;
  /** PEM of the CA that signed the server's certificate; default the system's. */
  ca?: string;
  /** Client certificate and key (PEM). */
  cert?: string;
  key?: string;
  /** Bearer token. */
  token?: string;
  /** A file holding the bearer token, read again for every request (service account tokens rotate). */
  tokenFile?: string;
  /** Skip verifying the server's certificate; default false. */
  insecureSkipTlsVerify?: boolean;
}

/** The configuration could not be read or names something unsupported. */
export class KubeConfigError extends SlipwayError {}

/** The API server answered with an error (a `Status`). */
export class KubernetesApiError extends SlipwayError {
  constructor(
    readonly status: number,
    /** The Status reason, e.g. `NotFound`, `AlreadyExists`, `Forbidden`, `Expired`. */
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The pod's own service account: what a fleet running in the cluster uses. */
export async function inClusterConnection(
  env: { KUBERNETES_SERVICE_HOST?: string; KUBERNETES_SERVICE_PORT?: string },
  o: { namespace?: string; dir?: string } = {},
): Promise<KubeConnection> {
  const dir = o.dir ?? SERVICE_ACCOUNT;
  if (!env.KUBERNETES_SERVICE_HOST) {
    throw new KubeConfigError(
      'not running in a Kubernetes pod (no KUBERNETES_SERVICE_HOST): pass --kubeconfig FILE',
    );
  }
  const host = env.KUBERNETES_SERVICE_HOST.includes(':')
    ? `[${env.KUBERNETES_SERVICE_HOST}]`
    : env.KUBERNETES_SERVICE_HOST;
  const read = async (file: string) => {
    try {
      return (await readFile(`${dir}/${file}`, 'utf8')).trim();
    } catch (error) {
      throw new KubeConfigError(
        `cannot read the pod's service account (${dir}/${file}): ${(error as Error).message}`,
      );
    }
  };
  return {
    server: `https://${host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`,
    namespace: o.namespace ?? (await read('namespace')),
    ca: await read('ca.crt'),
    tokenFile: `${dir}/token`,
  };
}

/**
 * The current context of a kubeconfig file: server, CA, client certificate or token. Exec and
 * auth-provider plugins are refused by name (a fleet in the cluster uses its service account).
 */
export async function kubeconfigConnection(
  file: string,
  o: { namespace?: string } = {},
): Promise<KubeConnection> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new KubeConfigError(`cannot read kubeconfig ${file}: ${(error as Error).message}`);
  }
  return parseKubeconfig(text, file, o);
}

interface Named<T> {
  name?: string;
  [key: string]: unknown;
  value?: T;
}

/** Pure: the connection a kubeconfig's current context describes. */
export function parseKubeconfig(text: string, file: string, o: { namespace?: string } = {}): KubeConnection {
  let doc: Record<string, unknown>;
  try {
    doc = (parseYaml(text) ?? {}) as Record<string, unknown>;
  } catch (error) {
    throw new KubeConfigError(`${file}: not YAML: ${(error as Error).message}`);
  }
  const fail = (message: string) => new KubeConfigError(`${file}: ${message}`);
  const pick = (list: string, name: string | undefined, key: string) => {
    const items = (doc[list] ?? []) as Named<unknown>[];
    const found = items.find((i) => i.name === name);
    if (!found) throw fail(`${list}: no entry named '${name}'`);
    return (found[key] ?? {}) as Record<string, unknown>;
  };
  const current = doc['current-context'] as string | undefined;
  if (!current) throw fail("no current-context (set one with 'kubectl config use-context')");
  const context = pick('contexts', current, 'context');
  const cluster = pick('clusters', context.cluster as string, 'cluster');
  const user = context.user === undefined ? {} : pick('users', context.user as string, 'user');
  const server = cluster.server as string | undefined;
  if (!server) throw fail(`cluster '${context.cluster}' has no server`);
  if (user.exec || user['auth-provider']) {
    throw fail(
      `user '${context.user}' authenticates through a plugin (exec/auth-provider), which the fleet does not run: use a token or a client certificate (a service account in the cluster)`,
    );
  }
  const inline = (data: unknown, path: unknown, field: string): string | undefined => {
    if (typeof data === 'string') return Buffer.from(data, 'base64').toString('utf8');
    if (typeof path === 'string')
      throw fail(`${field} names a file; only inline *-data is read (kubectl config view --raw --flatten)`);
    return undefined;
  };
  const ca = inline(
    cluster['certificate-authority-data'],
    cluster['certificate-authority'],
    'certificate-authority',
  );
  const cert = inline(user['client-certificate-data'], user['client-certificate'], 'client-certificate');
  const key = inline(user['client-key-data'], user['client-key'], 'client-key');
  return {
    server: server.replace(/\/+$/, ''),
    namespace: o.namespace ?? (context.namespace as string | undefined) ?? 'default',
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(typeof user.token === 'string' ? { token: user.token } : {}),
    ...(typeof user.tokenFile === 'string' ? { tokenFile: user.tokenFile } : {}),
    ...(cluster['insecure-skip-tls-verify'] === true ? { insecureSkipTlsVerify: true } : {}),
  };
}

export type WatchEvent<T> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: T }
  | { type: 'BOOKMARK'; object: T }
  | { type: 'ERROR'; object: V1Status };

/**
 * The REST paths of pods and Secrets in one namespace, and nothing else: pods are created,
 * listed, watched and deleted, Secrets only created and deleted (never read).
 */
export class KubernetesClient {
  readonly namespace: string;
  readonly #c: KubeConnection;
  readonly #dispatcher: Dispatcher;

  constructor(connection: KubeConnection) {
    this.#c = connection;
    this.namespace = connection.namespace;
    this.#dispatcher = new Agent({
      connect: {
        ...(connection.ca ? { ca: connection.ca } : {}),
        ...(connection.cert ? { cert: connection.cert } : {}),
        ...(connection.key ? { key: connection.key } : {}),
        rejectUnauthorized: connection.insecureSkipTlsVerify !== true,
      },
      // Watches are long: the server closes them (or the client does, on stop).
      bodyTimeout: 0,
    });
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  createPod(pod: V1Pod): Promise<V1Pod> {
    return this.#json('POST', this.#path('pods'), pod);
  }

  readPod(name: string): Promise<V1Pod> {
    return this.#json('GET', this.#path('pods', name));
  }

  /** Deletes a pod; `graceSeconds` is the SIGTERM to SIGKILL time (0: at once). */
  deletePod(name: string, graceSeconds?: number): Promise<V1Pod | V1Status> {
    return this.#json('DELETE', this.#path('pods', name), {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      propagationPolicy: 'Background',
      ...(graceSeconds === undefined ? {} : { gracePeriodSeconds: graceSeconds }),
    });
  }

  listPods(labelSelector: string): Promise<V1PodList> {
    return this.#json('GET', `${this.#path('pods')}?${new URLSearchParams({ labelSelector })}`);
  }

  createSecret(secret: V1Secret): Promise<V1Secret> {
    return this.#json('POST', this.#path('secrets'), secret);
  }

  deleteSecret(name: string): Promise<V1Secret | V1Status> {
    return this.#json('DELETE', this.#path('secrets', name));
  }

  /** The last lines a container wrote. */
  async podLog(name: string, container: string, tailLines: number): Promise<string> {
    const query = new URLSearchParams({ container, tailLines: String(tailLines) });
    const res = await this.#send('GET', `${this.#path('pods', name)}/log?${query}`);
    return res.body.text();
  }

  /**
   * Streams pod events from `resourceVersion` on until the server ends the watch or `signal`
   * aborts; resolves then. An `ERROR` event (410 Expired: start again from a fresh list) is passed on.
   */
  async watchPods(
    labelSelector: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent<V1Pod>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const query = new URLSearchParams({
      watch: 'true',
      labelSelector,
      resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: '300',
    });
    const res = await this.#send('GET', `${this.#path('pods')}?${query}`, undefined, signal);
    const lines = createInterface({ input: res.body, crlfDelay: Number.POSITIVE_INFINITY });
    try {
      for await (const line of lines) {
        if (line.trim() === '') continue;
        onEvent(JSON.parse(line) as WatchEvent<V1Pod>);
      }
    } catch (error) {
      if (signal.aborted) return;
      throw error;
    } finally {
      res.body.destroy();
    }
  }

  #path(resource: string, name?: string): string {
    const base = `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/${resource}`;
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
  }

  async #json<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<T> {
    const res = await this.#send(method, path, body);
    return (await res.body.json()) as T;
  }

  async #send(
    method: Dispatcher.HttpMethod,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    const token = this.#c.tokenFile ? (await readFile(this.#c.tokenFile, 'utf8')).trim() : this.#c.token;
    const res = await request(`${this.#c.server}${path}`, {
      method,
      dispatcher: this.#dispatcher,
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signal ? { signal } : {}),
    });
    if (res.statusCode < 400) return res;
    const text = await res.body.text();
    let status: Partial<V1Status> = {};
    try {
      status = JSON.parse(text) as V1Status;
    } catch {
      // Not a Status: a proxy's page, say.
    }
    throw new KubernetesApiError(
      res.statusCode,
      status.reason ?? String(res.statusCode),
      `${method} ${path}: ${res.statusCode} ${status.message ?? text.slice(0, 200)}`,
    );
  }
}

/** True for the API server's 404. */
export function isNotFound(error: unknown): boolean {
  return error instanceof KubernetesApiError && error.status === 404;
}
