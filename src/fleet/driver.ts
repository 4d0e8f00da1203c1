/**
 * What a fleet needs from a container platform. The manager decides what runs; a driver only
 * turns one "unit" (an agent container, its service containers and their private network) into
 * platform objects and back. Docker implements it today; a Kubernetes driver maps a unit to a pod.
 */
import type { ContainerOptions } from '../protocol/index.js';

/** A service container beside the job, reached by its name. */
export interface ServiceRequest {
  image: string;
  env: Record<string, string>;
  /** Published ports as written in the pipeline; units reach services on their own network. */
  ports: string[];
  /** The service's `options:` that Slipway honours; default none. */
  options?: ContainerOptions;
}

/** Options of a job's own Docker engine (`docker: dind`), from its pool's settings. */
export interface DockerEngineOptions {
  /** `--registry-mirror` of the job's engine; default none. */
  registryMirrors?: string[];
  /** `--insecure-registry` of the job's engine (plain HTTP or unverified TLS); default none. */
  insecureRegistries?: string[];
  /** MTU of the job's network and of the engine's own networks; default Docker's (1500). */
  mtu?: number;
  /** `--storage-driver` of the job's engine; default its choice (overlay2 on its own volume). */
  storageDriver?: string;
}

/** Everything needed to start one agent (and what its job needs beside it). */
export interface UnitRequest {
  /** Unique per start; every object of the unit carries it, so the unit is found and removed as one. */
  unitId: string;
  /** Labels everything the fleet makes, so its garbage is found after a crash too. */
  fleetId: string;
  pool: string;
  /** `<pool>-<n>`: the name the agent registers under. */
  agentName: string;
  /** The image the agent and the job's steps run in. */
  image: string;
  /** Set for a cold agent started for one job: its ticket is bound to it. */
  jobId?: string;
  services: Record<string, ServiceRequest>;
  /** The job container's own environment (`container: { env }`); never credentials. */
  env?: Record<string, string>;
  /** The job container's `options:` that Slipway honours; default none. */
  options?: ContainerOptions;
  /**
   * Docker for the job: none (default), dind (an engine of its own in a sidecar, TLS on) or
   * socket (the host's engine socket: root on the host). The manager checks the pool's policy.
   */
  docker?: 'none' | 'dind' | 'socket' | 'rootless';
  /** Options of the job's own engine (`docker: dind`); default none. */
  dockerEngine?: DockerEngineOptions;
  /** The job's `timeoutInMinutes` (0: none), for platforms that bound a unit's life; default none. */
  timeoutMinutes?: number;
  /**
   * One-use registration ticket, delivered as a file the agent reads and deletes. A promise, so
   * the server issues it while the containers are being made; it is awaited just before start.
   */
  ticket: Promise<string>;
}

/** How a unit's agent container ended. */
export interface UnitExit {
  exitCode: number;
  /** Killed by the kernel for going over its memory limit. */
  oomKilled: boolean;
  /** The container was gone before it could be inspected (removed by someone else). */
  vanished: boolean;
}

/** What a platform holds for one fleet, found by label. */
export interface UnitInfo {
  unitId: string;
  agentName: string;
  jobId?: string;
  running: boolean;
}

/** What `gc` removed. */
export interface GcReport {
  units: UnitInfo[];
  containers: number;
  networks: number;
  volumes: number;
}

export interface FleetDriver {
  /** Makes sure what the fleet's units need exists (agent runtime, shared network). Idempotent. */
  prepare(fleetId: string): Promise<void>;
  /** Removes what `prepare` made for the fleet; called once its units are gone. */
  teardown(fleetId: string): Promise<void>;
  /** Creates and starts a unit; on failure removes whatever part of it was made, then throws. */
  start(request: UnitRequest): Promise<void>;
  /** Resolves when the unit's agent container stops running. */
  wait(unitId: string): Promise<UnitExit>;
  /** Asks the agent to stop (SIGTERM: it cancels its job and deregisters), killing it after `graceSeconds`. */
  stop(unitId: string, graceSeconds: number): Promise<void>;
  /** Removes every object of the unit, running or not. Removing a unit that is gone is not an error. */
  remove(unitId: string): Promise<void>;
  /** The units this fleet has on the platform. */
  list(fleetId: string): Promise<UnitInfo[]>;
  /**
   * Removes the units labelled with `fleetId` that are not in `keep` (containers, networks,
   * volumes), and nothing else; what `prepare` made stays.
   */
  gc(fleetId: string, keep: ReadonlySet<string>): Promise<GcReport>;
  /** The last lines the unit's agent wrote, for a crash report. */
  logs(unitId: string, lines: number): Promise<string>;
}
