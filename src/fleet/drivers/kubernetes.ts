import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import { sleep } from '../../shared/clock.js';
import { type Logger, silentLogger } from '../../shared/logger.js';
import type { ResourceLimits } from '../container-spec.js';
import type { FleetDriver, GcReport, UnitExit, UnitInfo, UnitRequest } from '../driver.js';
import { LABEL } from '../labels.js';
import {
  AGENT_CONTAINER,
  buildPodSpec,
  buildTicketSecret,
  labelSelector,
  type PodSpecOptions,
} from '../pod-spec.js';
import { UnitStartError } from './docker.js';
import { isNotFound, type KubernetesClient, type WatchEvent } from './kubernetes-client.js';

export interface KubernetesDriverOptions {
  /** The API server, in the namespace the job pods go to. */
  client: KubernetesClient;
  /** The coordinator as agents in pods reach it (a Service URL), e.g. `http://slipway:8420`. */
  serverUrl: string;
  /** Image holding the agent runtime; default `slipway/agent:latest`. */
  agentImage?: string;
  /** Image of the per-job engine of `docker: dind` jobs; default `slipway/dind:latest`. */
  dindImage?: string;
  /** Limits of every container; default none. */
  resources?: ResourceLimits;
  /** What the scheduler reserves per container; default the limits. */
  requests?: PodSpecOptions['requests'];
  /** Extra labels for every pod and Secret; default none. */
  labels?: Record<string, string>;
  /** Owner of the job pods (the fleet's own pod, say), so Kubernetes removes them with it; default none. */
  owner?: V1OwnerReference;
  /** `imagePullPolicy` of every container; default Kubernetes' own. */
  imagePullPolicy?: PodSpecOptions['imagePullPolicy'];
  /** Node selector of the job pods; default none. */
  nodeSelector?: Record<string, string>;
  /** Longest a pod may take from creation to its agent running (scheduling, pulls), in ms; default 600 000. */
  startTimeoutMs?: number;
  /** Default: silent. */
  logger?: Logger;
}

/** Waiting reasons after which a pod will not start by itself soon: its start fails at once. */
const FATAL_WAITING = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

/**
 * The Kubernetes side of a fleet: one pod per unit, its ticket in a Secret the pod owns. Pods are
 * watched (one watch per fleet, resumed from its resourceVersion), never polled; the driver
 * decides nothing about what to run.
 */
export class KubernetesDriver implements FleetDriver {
  readonly #k: KubernetesClient;
  readonly #o: KubernetesDriverOptions;
  readonly #log: Logger;
  /** The fleet's agent pods as the watch last saw them, by unit id. */
  readonly #pods = new Map<string, V1Pod>();
  /** Pod names of units started by this process. */
  readonly #names = new Map<string, string>();
  /** Units whose pod the watch has seen: their pod missing now means it is gone. */
  readonly #seen = new Set<string>();
  readonly #listeners = new Set<() => void>();
  #watch: AbortController | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: KubernetesDriverOptions) {
    this.#o = options;
    this.#k = options.client;
    this.#log = options.logger ?? silentLogger;
  }

  /** Lists the fleet's pods (proving the API answers and allows it), then watches them. */
  async prepare(fleetId: string): Promise<void> {
    if (this.#watch) return;
    const selector = labelSelector(fleetId, undefined, 'agent');
    let resourceVersion: string;
    try {
      resourceVersion = await this.#relist(selector);
    } catch (error) {
      throw new UnitStartError(
        `cannot list pods in namespace ${this.#k.namespace}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const watch = new AbortController();
    this.#watch = watch;
    this.#loop = this.#watchLoop(selector, resourceVersion, watch.signal);
  }

  async teardown(): Promise<void> {
    this.#watch?.abort();
    await this.#loop;
    this.#watch = undefined;
    this.#loop = undefined;
  }

  async start(request: UnitRequest): Promise<void> {
    const { ticket, ...unit } = request;
    const spec = buildPodSpec(unit, {
      namespace: this.#k.namespace,
      serverUrl: this.#o.serverUrl,
      ...(this.#o.agentImage ? { agentImage: this.#o.agentImage } : {}),
      ...(this.#o.dindImage ? { dindImage: this.#o.dindImage } : {}),
      ...(this.#o.resources ? { resources: this.#o.resources } : {}),
      ...(this.#o.requests ? { requests: this.#o.requests } : {}),
      ...(this.#o.labels ? { labels: this.#o.labels } : {}),
      ...(this.#o.owner ? { owner: this.#o.owner } : {}),
      ...(this.#o.imagePullPolicy ? { imagePullPolicy: this.#o.imagePullPolicy } : {}),
      ...(this.#o.nodeSelector ? { nodeSelector: this.#o.nodeSelector } : {}),
    });
    const name = spec.pod.metadata!.name!;
    this.#names.set(unit.unitId, name);
    try {
      // The pod first, so the Secret can name it as its owner; the kubelet holds the pod until
      // the Secret it mounts exists, and the server issues the ticket meanwhile.
      const created = await this.#k.createPod(spec.pod);
      await this.#k.createSecret(
        buildTicketSecret(spec, { name, uid: created.metadata!.uid! }, await ticket),
      );
      await this.#untilStarted(unit.unitId, name);
      // The init container has moved the ticket into the pod's memory: the Secret has served.
      await this.#k.deleteSecret(spec.ticketSecret).catch((error) => {
        if (!isNotFound(error))
          this.#log.debug({ err: error, unit: unit.unitId }, 'ticket Secret not deleted');
      });
    } catch (error) {
      await this.remove(unit.unitId).catch((e) =>
        this.#log.warn({ err: e, unit: unit.unitId }, 'cleanup failed'),
      );
      throw new UnitStartError(
        `starting ${unit.agentName} in ${unit.image} failed: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** Until the agent container runs (or already ran); throws when the pod cannot get there. */
  async #untilStarted(unitId: string, name: string): Promise<void> {
    const timeoutMs = this.#o.startTimeoutMs ?? 600_000;
    const outcome = await this.#until<{ error?: string }>(
      unitId,
      (pod) => {
        if (!pod) return { error: `pod ${name} was deleted before its agent started` };
        const status = pod.status;
        const agent = status?.containerStatuses?.find((c) => c.name === AGENT_CONTAINER);
        if (agent?.state?.running || agent?.state?.terminated) return {};
        for (const c of [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])]) {
          const waiting = c.state?.waiting;
          if (waiting?.reason && FATAL_WAITING.has(waiting.reason)) {
            return {
              error: `container ${c.name} (${c.image}): ${waiting.reason}: ${waiting.message ?? ''}`.trim(),
            };
          }
          const terminated = c.state?.terminated;
          if (terminated && terminated.exitCode !== 0 && c.name !== AGENT_CONTAINER) {
            return {
              error: `container ${c.name} exited with code ${terminated.exitCode} (${terminated.reason ?? 'Error'})`,
            };
          }
        }
        if (status?.phase === 'Failed')
          return { error: `pod ${name} failed: ${status.reason ?? ''} ${status.message ?? ''}`.trim() };
        return undefined;
      },
      timeoutMs,
    );
    if (outcome === undefined) {
      const pod = this.#pods.get(unitId);
      const why = pod?.status?.conditions?.find((c) => c.status === 'False' && c.message)?.message;
      throw new Error(
        `pod ${name} did not start within ${Math.round(timeoutMs / 1000)} s${why ? `: ${why}` : ` (phase ${pod?.status?.phase ?? 'unknown'})`}`,
      );
    }
    if (outcome.error) throw new Error(outcome.error);
  }

  async wait(unitId: string): Promise<UnitExit> {
    const exit = await this.#until<UnitExit>(unitId, (pod) => {
      if (!pod) return { exitCode: -1, oomKilled: false, vanished: true };
      const agent = pod.status?.containerStatuses?.find((c) => c.name === AGENT_CONTAINER);
      const terminated = agent?.state?.terminated;
      if (terminated) {
        return {
          exitCode: terminated.exitCode,
          oomKilled: terminated.reason === 'OOMKilled',
          vanished: false,
        };
      }
      // Ended without its agent's status (evicted, past its deadline): the kubelet killed it.
      if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') {
        this.#log.warn({ unit: unitId, reason: pod.status.reason, message: pod.status.message }, 'pod ended');
        return { exitCode: 137, oomKilled: false, vanished: false };
      }
      return undefined;
    });
    return exit!;
  }

  async stop(unitId: string, graceSeconds: number): Promise<void> {
    const name = await this.#podName(unitId);
    if (!name) return;
    try {
      // Deleting with a grace period is Kubernetes' SIGTERM, then SIGKILL.
      await this.#k.deletePod(name, Math.max(0, Math.round(graceSeconds)));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async remove(unitId: string): Promise<void> {
    const names = this.#names.get(unitId);
    const pods = names
      ? [names]
      : (await this.#k.listPods(`${LABEL.managed}=true,${LABEL.unit}=${unitId}`)).items.map(
          (p) => p.metadata!.name!,
        );
    await Promise.all(
      pods.flatMap((pod) => [
        this.#k.deletePod(pod, 0).catch(ignoreNotFound),
        this.#k.deleteSecret(`${pod}-ticket`).catch(ignoreNotFound),
      ]),
    );
    this.#names.delete(unitId);
    if (!this.#pods.has(unitId)) this.#seen.delete(unitId);
  }

  async list(fleetId: string): Promise<UnitInfo[]> {
    const { items } = await this.#k.listPods(labelSelector(fleetId, undefined, 'agent'));
    return items.map(unitInfo);
  }

  async gc(fleetId: string, keep: ReadonlySet<string>): Promise<GcReport> {
    // Pods only: a ticket Secret is owned by its pod and goes with it, so the fleet needs no
    // right to list (and so read) the namespace's Secrets.
    const pods = (await this.#k.listPods(labelSelector(fleetId))).items.filter(
      (p) => !keep.has(p.metadata?.labels?.[LABEL.unit] ?? ''),
    );
    await Promise.all(pods.map((p) => this.#k.deletePod(p.metadata!.name!, 0).catch(ignoreNotFound)));
    return {
      units: pods
        .filter((p) => p.metadata?.labels?.[LABEL.role] === 'agent' && !p.metadata.deletionTimestamp)
        .map(unitInfo),
      // A pod's containers and volumes go with it.
      containers: pods.length,
      networks: 0,
      volumes: 0,
    };
  }

  async logs(unitId: string, lines: number): Promise<string> {
    const name = await this.#podName(unitId);
    if (!name) return '';
    try {
      return await this.#k.podLog(name, AGENT_CONTAINER, lines);
    } catch {
      return '';
    }
  }

  async #podName(unitId: string): Promise<string | undefined> {
    return this.#names.get(unitId) ?? this.#pods.get(unitId)?.metadata?.name;
  }

  /**
   * Resolves with what `check` returns for the unit's pod (undefined while there is none yet to
   * say), re-checked on every watch event; undefined after `timeoutMs`.
   */
  #until<T>(
    unitId: string,
    check: (pod: V1Pod | undefined) => T | undefined,
    timeoutMs?: number,
  ): Promise<T | undefined> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (value: T | undefined) => {
        this.#listeners.delete(listener);
        if (timer) clearTimeout(timer);
        resolve(value);
      };
      const listener = () => {
        const pod = this.#pods.get(unitId);
        // Before the watch has seen the pod, "no pod" means "not yet", unless it was known.
        if (!pod && !this.#seen.has(unitId)) return;
        const value = check(pod);
        if (value !== undefined) done(value);
      };
      this.#listeners.add(listener);
      if (timeoutMs !== undefined) timer = setTimeout(() => done(undefined), timeoutMs);
      listener();
    });
  }

  #apply(event: WatchEvent<V1Pod>): void {
    if (event.type === 'ERROR' || event.type === 'BOOKMARK') return;
    const unitId = event.object.metadata?.labels?.[LABEL.unit];
    if (!unitId) return;
    if (event.type === 'DELETED') {
      // Its last state first: a pod deleted after its agent ended still tells how it ended.
      this.#pods.set(unitId, event.object);
      this.#notify();
      this.#pods.delete(unitId);
      if (!this.#names.has(unitId)) this.#seen.delete(unitId);
    } else {
      this.#pods.set(unitId, event.object);
      this.#seen.add(unitId);
    }
    this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  /** Lists the fleet's pods into the cache (dropping those gone meanwhile); the list's resourceVersion. */
  async #relist(selector: string): Promise<string> {
    const list = await this.#k.listPods(selector);
    const present = new Set<string>();
    for (const pod of list.items) {
      const unitId = pod.metadata?.labels?.[LABEL.unit];
      if (!unitId) continue;
      present.add(unitId);
      this.#pods.set(unitId, pod);
      this.#seen.add(unitId);
    }
    for (const unitId of [...this.#pods.keys()]) if (!present.has(unitId)) this.#pods.delete(unitId);
    this.#notify();
    return list.metadata?.resourceVersion ?? '0';
  }

  /** One watch, resumed where it ended; a fresh list when the server no longer has that point (410). */
  async #watchLoop(selector: string, from: string, signal: AbortSignal): Promise<void> {
    let resourceVersion = from;
    let failures = 0;
    while (!signal.aborted) {
      let expired = false;
      try {
        await this.#k.watchPods(
          selector,
          resourceVersion,
          (event) => {
            if (event.type === 'ERROR') {
              if (event.object.code === 410) expired = true;
              else this.#log.warn({ status: event.object }, 'pod watch error');
              return;
            }
            resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
            this.#apply(event);
          },
          signal,
        );
        failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        failures++;
        if (failures === 1 || failures % 30 === 0)
          this.#log.warn({ err: error }, 'pod watch failed; retrying');
        await sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)), signal);
        expired = failures > 3;
      }
      if (expired && !signal.aborted) {
        try {
          resourceVersion = await this.#relist(selector);
        } catch (error) {
          this.#log.warn({ err: error }, 'pod list failed; retrying');
          await sleep(1_000, signal);
        }
      }
    }
  }
}

function unitInfo(pod: V1Pod): UnitInfo {
  const labels = pod.metadata?.labels ?? {};
  return {
    unitId: labels[LABEL.unit] ?? '',
    agentName: labels[LABEL.agent] ?? '',
    ...(labels[LABEL.job] ? { jobId: labels[LABEL.job] } : {}),
    running: pod.status?.phase === 'Running' && !pod.metadata?.deletionTimestamp,
  };
}

function ignoreNotFound(error: unknown): void {
  if (!isNotFound(error)) throw error;
}
