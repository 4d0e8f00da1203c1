import { readFile } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  type V1Pod,
  type V1PodList,
  type V1Secret,
  type V1Status,
  Watch,
} from '@kubernetes/client-node';
import { SlipwayError } from '../../shared/errors.js';

/**
 * Where the fleet's job pods live: a cluster and its credentials, loaded by
 * `@kubernetes/client-node` (so kubeconfig files, exec plugins, client certificates and rotating
 * service account tokens work as they do for kubectl), and the namespace of the job pods.
 */
export interface KubeTarget {
  config: KubeConfig;
  namespace: string;
}

/** The configuration could not be read or names something that does not exist. */
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
export async function inClusterTarget(
  env: { KUBERNETES_SERVICE_HOST?: string; KUBERNETES_SERVICE_PORT?: string },
  o: { namespace?: string; dir?: string } = {},
): Promise<KubeTarget> {
  const dir = o.dir ?? SERVICE_ACCOUNT;
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) {
    throw new KubeConfigError(
      'not running in a Kubernetes pod (no KUBERNETES_SERVICE_HOST): pass --kubeconfig FILE',
    );
  }
  const read = async (file: string) => {
    try {
      return (await readFile(`${dir}/${file}`, 'utf8')).trim();
    } catch (error) {
      throw new KubeConfigError(
        `cannot read the pod's service account (${dir}/${file}): ${(error as Error).message}`,
      );
    }
  };
  const namespace = o.namespace ?? (await read('namespace'));
  const caData = Buffer.from(await read('ca.crt')).toString('base64');
  await read('token');
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`;
  const config = new KubeConfig();
  // The token file is read again as the kubelet rotates it (the package's `tokenFile` provider).
  config.loadFromOptions({
    clusters: [{ name: 'in-cluster', server, caData, skipTLSVerify: false }],
    users: [
      { name: 'service-account', authProvider: { name: 'tokenFile', config: { tokenFile: `${dir}/token` } } },
    ],
    contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'service-account', namespace }],
    currentContext: 'in-cluster',
  });
  return { config, namespace };
}

/** The current context of a kubeconfig file; `--namespace` wins over the context's. */
export function kubeconfigTarget(file: string, o: { namespace?: string } = {}): KubeTarget {
  const config = new KubeConfig();
  try {
    config.loadFromFile(file);
  } catch (error) {
    throw new KubeConfigError(`cannot read kubeconfig ${file}: ${(error as Error).message}`);
  }
  // kubectl speaks plain HTTP to an `http://` server (a `kubectl proxy`); the package does so only
  // for clusters marked skip-TLS-verify, which is what plain HTTP means anyway.
  config.loadFromOptions({
    clusters: config.clusters.map((c) => (c.server.startsWith('http:') ? { ...c, skipTLSVerify: true } : c)),
    users: config.users,
    contexts: config.contexts,
    currentContext: config.currentContext,
  });
  const current = config.getCurrentContext();
  if (!current)
    throw new KubeConfigError(`${file}: no current-context (set one with 'kubectl config use-context')`);
  const context = config.getContextObject(current);
  if (!context) throw new KubeConfigError(`${file}: contexts: no entry named '${current}'`);
  if (!config.getCluster(context.cluster))
    throw new KubeConfigError(`${file}: clusters: no entry named '${context.cluster}'`);
  return { config, namespace: o.namespace ?? context.namespace ?? 'default' };
}

/** A cluster given directly: a local `kubectl proxy`, or a test's fake API server. */
export function serverTarget(o: {
  server: string;
  namespace: string;
  token?: string;
  insecureSkipTlsVerify?: boolean;
}): KubeTarget {
  const config = new KubeConfig();
  // The package speaks plain HTTP only to a cluster marked skip-TLS-verify: there is nothing to verify.
  const skipTLSVerify = o.insecureSkipTlsVerify === true || o.server.startsWith('http:');
  config.loadFromOptions({
    clusters: [{ name: 'direct', server: o.server, skipTLSVerify }],
    users: [{ name: 'direct', ...(o.token ? { token: o.token } : {}) }],
    contexts: [{ name: 'direct', cluster: 'direct', user: 'direct', namespace: o.namespace }],
    currentContext: 'direct',
  });
  return { config, namespace: o.namespace };
}

export type WatchEvent<T> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: T }
  | { type: 'BOOKMARK'; object: T }
  | { type: 'ERROR'; object: V1Status };

/**
 * The calls the driver makes, in one namespace: pods are created, listed, watched and deleted,
 * Secrets only created and deleted (never read). Errors become `KubernetesApiError`s that carry
 * the API server's status code and reason.
 */
export class KubernetesClient {
  readonly namespace: string;
  readonly #api: CoreV1Api;
  readonly #watch: Watch;

  constructor(target: KubeTarget) {
    this.namespace = target.namespace;
    this.#api = target.config.makeApiClient(CoreV1Api);
    this.#watch = new Watch(target.config);
  }

  async close(): Promise<void> {
    // Requests hold no pooled connections beyond their own; watches end with their signals.
  }

  createPod(pod: V1Pod): Promise<V1Pod> {
    return this.#call('create pod', () =>
      this.#api.createNamespacedPod({ namespace: this.namespace, body: pod }),
    );
  }

  readPod(name: string): Promise<V1Pod> {
    return this.#call(`read pod ${name}`, () =>
      this.#api.readNamespacedPod({ name, namespace: this.namespace }),
    );
  }

  /** Deletes a pod; `graceSeconds` is the SIGTERM to SIGKILL time (0: at once). */
  deletePod(name: string, graceSeconds?: number): Promise<V1Pod> {
    return this.#call(`delete pod ${name}`, () =>
      this.#api.deleteNamespacedPod({
        name,
        namespace: this.namespace,
        propagationPolicy: 'Background',
        ...(graceSeconds === undefined ? {} : { gracePeriodSeconds: graceSeconds }),
      }),
    );
  }

  listPods(labelSelector: string): Promise<V1PodList> {
    return this.#call('list pods', () =>
      this.#api.listNamespacedPod({ namespace: this.namespace, labelSelector }),
    );
  }

  createSecret(secret: V1Secret): Promise<V1Secret> {
    return this.#call('create secret', () =>
      this.#api.createNamespacedSecret({ namespace: this.namespace, body: secret }),
    );
  }

  deleteSecret(name: string): Promise<V1Status> {
    return this.#call(`delete secret ${name}`, () =>
      this.#api.deleteNamespacedSecret({ name, namespace: this.namespace }),
    );
  }

  /** The last lines a container wrote. */
  podLog(name: string, container: string, tailLines: number): Promise<string> {
    return this.#call(`read the log of pod ${name}`, () =>
      this.#api.readNamespacedPodLog({ name, namespace: this.namespace, container, tailLines }),
    );
  }

  /**
   * Streams pod events from `resourceVersion` on until the server ends the watch or `signal`
   * aborts; resolves then. An `ERROR` event (410 Expired: start again from a fresh list) is passed on.
   */
  watchPods(
    labelSelector: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent<V1Pod>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const path = `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods`;
      const query = { labelSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 };
      const done = (error: unknown) => {
        if (error && !signal.aborted)
          reject(
            new KubernetesApiError(
              statusOf(error),
              'WatchFailed',
              `watch pods: ${(error as Error).message ?? error}`,
            ),
          );
        else resolve();
      };
      const onPhase = (type: string, object: unknown) => onEvent({ type, object } as WatchEvent<V1Pod>);
      void this.#watch.watch(path, query, onPhase, done).then((controller) => {
        if (signal.aborted) controller.abort();
        else signal.addEventListener('abort', () => controller.abort(), { once: true });
      });
    });
  }

  async #call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof ApiException)) throw error;
      const status = parseStatus(error.body);
      throw new KubernetesApiError(
        error.code,
        status.reason ?? String(error.code),
        `${what}: ${error.code} ${status.message ?? (typeof error.body === 'string' && error.body ? error.body.slice(0, 200) : (STATUS_CODES[error.code] ?? ''))}`.trimEnd(),
      );
    }
  }
}

function parseStatus(body: unknown): Partial<V1Status> {
  if (body && typeof body === 'object') return body as V1Status;
  if (typeof body !== 'string') return {};
  try {
    return JSON.parse(body) as V1Status;
  } catch {
    return {}; // Not a Status: a proxy's page, say.
  }
}

function statusOf(error: unknown): number {
  const code = (error as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : 0;
}

/** True for the API server's 404. */
export function isNotFound(error: unknown): boolean {
  return error instanceof KubernetesApiError && error.status === 404;
}
