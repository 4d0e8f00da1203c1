import { existsSync } from 'node:fs';
import {
  defaultFleetId,
  FleetManager,
  inClusterTarget,
  KubeConfigError,
  KubernetesClient,
  KubernetesDriver,
  type KubeTarget,
  kubeconfigTarget,
  PoolNotFoundError,
  parseResourceLimits,
} from '../../fleet/index.js';
import type { Logger } from '../../shared/logger.js';
import { type ClientSettings, resolveClient } from '../client-config.js';
import { CliError, EXIT } from '../exit-codes.js';
import { untilSignal } from './docker-host.js';
import type { FleetFlags } from './fleet.js';

/** What `slipway fleet --driver kubernetes` adds to the fleet flags. */
export interface KubernetesFleetFlags {
  /** Namespace of the job pods; default the kubeconfig context's, or the pod's own in a cluster. */
  namespace?: string;
  /** A kubeconfig file; default in-cluster configuration when running in a pod, else $KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string;
  /** The coordinator as job pods reach it (a Service URL); default the URL this fleet uses. */
  agentUrl?: string;
  /** Image holding the agent runtime, pulled by the pods' init container; default `slipway/agent:latest`. */
  agentImage?: string;
}

/** What only `main.ts` reads from the environment, for the Kubernetes fleet. */
export interface KubernetesEnv {
  KUBERNETES_SERVICE_HOST?: string;
  KUBERNETES_SERVICE_PORT?: string;
  KUBECONFIG?: string;
  HOME?: string;
  /** The fleet's own pod (downward API), owner of the job pods so they go with it. */
  SLIPWAY_POD_NAME?: string;
  SLIPWAY_POD_UID?: string;
  SLIPWAY_POD_NAMESPACE?: string;
}

/** `slipway fleet --driver kubernetes`: one pod per job in a namespace, until SIGINT/SIGTERM. */
export async function kubernetesFleetCommand(
  o: ClientSettings &
    FleetFlags &
    KubernetesFleetFlags & { env: KubernetesEnv; logger: Logger; out: (s: string) => void },
): Promise<number> {
  if (!(o.minIdle >= 0) || !(o.max >= 1) || o.minIdle > o.max) {
    throw new CliError(
      `--min-idle ${o.minIdle} and --max ${o.max}: need 0 ≤ min-idle ≤ max and max ≥ 1`,
      EXIT.invalid,
    );
  }
  const { client, token, url } = resolveClient(o);
  const agentUrl = o.agentUrl ?? url;
  if (!/^https?:\/\//.test(agentUrl)) {
    throw new CliError(
      `job pods reach the server by HTTP(S), not ${agentUrl}: pass --agent-url, the server's Service URL (e.g. http://slipway-server:8420)`,
      EXIT.invalid,
    );
  }
  const connection = await connect(o);
  const k8s = new KubernetesClient(connection);
  // An owner in another namespace counts as absent, and Kubernetes would delete the job pods at
  // once: the fleet's pod owns them only when they share its namespace.
  const owner =
    o.env.SLIPWAY_POD_NAME && o.env.SLIPWAY_POD_UID && o.env.SLIPWAY_POD_NAMESPACE === connection.namespace
      ? { apiVersion: 'v1', kind: 'Pod', name: o.env.SLIPWAY_POD_NAME, uid: o.env.SLIPWAY_POD_UID }
      : undefined;
  const resources = parseResourceLimits(o);
  const driver = new KubernetesDriver({
    client: k8s,
    serverUrl: agentUrl,
    resources,
    labels: o.label ?? {},
    ...(owner ? { owner } : {}),
    ...(o.agentImage ? { agentImage: o.agentImage } : {}),
    logger: o.logger,
  });
  const fleet = new FleetManager({
    client,
    adminToken: token,
    driver,
    fleetId: o.fleetId ?? defaultFleetId({ pool: o.pool, server: url, host: `k8s-${connection.namespace}` }),
    pool: o.pool,
    minIdle: o.minIdle,
    max: o.max,
    warmPerImage: o.warmPerImage,
    ...(o.image ? { image: o.image } : {}),
    drainTimeoutMs: o.drainTimeout * 1000,
    logger: o.logger,
  });
  try {
    await fleet.start();
  } catch (error) {
    await fleet.stop().catch(() => undefined);
    await k8s.close();
    if (error instanceof PoolNotFoundError) {
      throw new CliError(
        `pool '${o.pool}' does not exist: create it with 'slipway pool create ${o.pool}'`,
        EXIT.invalid,
      );
    }
    throw new CliError((error as Error).message, EXIT.infrastructure);
  }
  o.out(
    `Fleet ${fleet.fleetId}: pool '${fleet.pool}', pods in namespace ${connection.namespace} of ${connection.config.getCurrentCluster()?.server}, image ${fleet.defaultImage}, ${o.minIdle} idle, at most ${o.max}; agents reach ${agentUrl}\nServing ${url}; Ctrl-C drains and stops it.\n`,
  );
  await untilSignal(() => process.exit(EXIT.infrastructure));
  o.out('Stopping: running jobs finish, then every job pod is deleted…\n');
  await fleet.stop();
  await k8s.close();
  o.out('Fleet stopped.\n');
  return EXIT.ok;
}

/** --kubeconfig, else the pod's service account in a cluster, else $KUBECONFIG or ~/.kube/config. */
async function connect(o: KubernetesFleetFlags & { env: KubernetesEnv }): Promise<KubeTarget> {
  const namespace = o.namespace ? { namespace: o.namespace } : {};
  try {
    if (o.kubeconfig) return kubeconfigTarget(o.kubeconfig, namespace);
    if (o.env.KUBERNETES_SERVICE_HOST) return await inClusterTarget(o.env, namespace);
    const file = o.env.KUBECONFIG?.split(':')[0] || (o.env.HOME ? `${o.env.HOME}/.kube/config` : undefined);
    if (file && existsSync(file)) return kubeconfigTarget(file, namespace);
    throw new KubeConfigError(
      'no Kubernetes configuration: pass --kubeconfig FILE, set KUBECONFIG, or run the fleet in a pod',
    );
  } catch (error) {
    if (error instanceof KubeConfigError) throw new CliError(error.message, EXIT.invalid);
    throw error;
  }
}
