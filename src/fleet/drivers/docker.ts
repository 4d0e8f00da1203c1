import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type Dockerode from 'dockerode';
import { AGENT_IMAGE, DIND_IMAGE, DIND_READY_FILE, ensureAgentVolume } from '../../images/index.js';
import { sleep } from '../../shared/clock.js';
import { demuxDockerLogs } from '../../shared/docker-logs.js';
import { SlipwayError } from '../../shared/errors.js';
import { type Logger, silentLogger } from '../../shared/logger.js';
import { buildContainerSpec, fleetNetworkSpec, type ResourceLimits, TICKET_PATH } from '../container-spec.js';
import type { FleetDriver, GcReport, UnitExit, UnitInfo, UnitRequest } from '../driver.js';
import { FLEET_ROLE, fleetFilter, LABEL } from '../labels.js';
import { ticketArchive } from '../ticket-archive.js';

export interface DockerDriverOptions {
  docker: Dockerode;
  /** Host path of the server's Unix socket, bind-mounted into every agent container. */
  serverSocket: string;
  /** Image holding the agent runtime; default `slipway/agent:latest`. */
  agentImage?: string;
  /** Limits for every container; default none. */
  resources?: ResourceLimits;
  /** Extra labels for every object; default none. */
  labels?: Record<string, string>;
  /** Pull an image that is not present locally; default true. */
  pull?: boolean;
  /** Longest an image pull may take, in ms; default 300 000. */
  pullTimeoutMs?: number;
  /** Image of the per-job engine of `docker: dind` jobs; default `slipway/dind:latest` (`slipway image build`). */
  dindImage?: string;
  /** Longest a job's engine may take to answer over TLS, in ms; default 60 000. */
  dindReadyTimeoutMs?: number;
  /** Host path of the engine's socket, for `docker: socket` jobs; default the one this driver talks to, else `/var/run/docker.sock`. */
  hostSocket?: string;
  /**
   * Host directory for the tickets of units whose agent runs as root (a directory per unit,
   * bind-mounted into its container, so no upload into the container is needed). It must be a
   * path the engine sees as this process does, as `serverSocket` is. Default: a private
   * directory made by `prepare` beside `serverSocket` (else under the OS temp directory),
   * removed by `teardown`.
   */
  ticketRoot?: string;
  /** Default: silent. */
  logger?: Logger;
}

/** The job's own Docker engine did not come up; the job never started. */
export class DindNotReadyError extends SlipwayError {}

/** A unit could not be started; whatever part of it was made is gone again. */
export class UnitStartError extends SlipwayError {}

/** The image is not on this engine and could not be pulled. */
export class ImageUnavailableError extends SlipwayError {
  constructor(
    readonly image: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`image ${image} is not on this Docker engine and could not be pulled: ${detail}`, options);
  }
}

interface ImageFacts {
  env: string[];
  user: string;
}

const TICKET_FILE = basename(TICKET_PATH);

const statusOf = (error: unknown) => (error as { statusCode?: number }).statusCode;

/**
 * The Docker side of a fleet: sends the specs `buildContainerSpec` makes and reads state back
 * by label. It decides nothing about what to run.
 */
export class DockerDriver implements FleetDriver {
  readonly #docker: Dockerode;
  readonly #o: DockerDriverOptions;
  readonly #log: Logger;
  #volume: string | undefined;
  #network: string | undefined;
  #ticketRoot: string | undefined;
  /** Whether `#ticketRoot` was made by `prepare` (and so is removed by `teardown`). */
  #ownTicketRoot = false;
  /** Agent container ids of units started by this process; the label lookup is the fallback. */
  readonly #agents = new Map<string, string>();

  constructor(options: DockerDriverOptions) {
    this.#o = options;
    this.#docker = options.docker;
    this.#log = options.logger ?? silentLogger;
  }

  async prepare(fleetId: string): Promise<void> {
    const agentImage = this.#o.agentImage ?? AGENT_IMAGE;
    try {
      this.#volume = await ensureAgentVolume(this.#docker, agentImage);
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      throw new UnitStartError(
        `the agent image ${agentImage} is not on this engine: run 'slipway image build'`,
        {
          cause: error,
        },
      );
    }
    const spec = fleetNetworkSpec(fleetId, this.#o.labels);
    const existing = await this.#docker.listNetworks({ filters: { name: [spec.Name] } });
    const ours = existing.find((n) => n.Name === spec.Name);
    if (ours && ours.Labels?.[LABEL.fleet] !== fleetId) {
      throw new UnitStartError(`network ${spec.Name} exists but is not this fleet's; remove or rename it`);
    }
    if (!ours) {
      try {
        await this.#docker.createNetwork(spec);
      } catch (error) {
        // Another process of the same fleet made it a moment ago.
        if (statusOf(error) !== 409) throw error;
      }
    }
    this.#network = spec.Name;
    if (!this.#ticketRoot) {
      this.#ownTicketRoot = this.#o.ticketRoot === undefined;
      this.#ticketRoot = this.#o.ticketRoot ?? (await this.#makeTicketRoot());
      // Only the fleet's own user reaches a ticket from the host side.
      await chmod(this.#ticketRoot, 0o700);
    }
  }

  async teardown(fleetId: string): Promise<void> {
    const networks = await this.#docker.listNetworks({
      filters: { label: [...fleetFilter(fleetId), `${LABEL.role}=${FLEET_ROLE}`] },
    });
    await Promise.all(networks.map((n) => this.#removeNetwork(n.Id)));
    if (this.#ownTicketRoot && this.#ticketRoot) await rm(this.#ticketRoot, { recursive: true, force: true });
    this.#ticketRoot = undefined;
  }

  async start(request: UnitRequest): Promise<void> {
    const agentVolume = this.#volume;
    if (!agentVolume) throw new UnitStartError('the Docker driver was not prepared (call prepare() first)');
    const { ticket, ...unit } = request;
    const dindImage = this.#o.dindImage ?? DIND_IMAGE;
    const [image] = await Promise.all([
      this.#ensureImage(unit.image),
      ...Object.values(unit.services).map((s) => this.#ensureImage(s.image)),
      ...(unit.docker === 'dind' ? [this.#ensureLocalImage(dindImage)] : []),
    ]);
    const spec = buildContainerSpec({
      unit,
      image: image!,
      agentVolume,
      serverSocket: this.#o.serverSocket,
      fleetNetwork: this.#network,
      resources: this.#o.resources,
      labels: this.#o.labels,
      dindImage,
      hostSocket: this.#hostSocket(),
      ticketRoot: this.#ticketRoot,
    });
    try {
      // A bind's source must exist when the container is created; any user may delete in it.
      if (spec.ticketDir)
        await mkdir(spec.ticketDir, { mode: 0o777 }).then(() => chmod(spec.ticketDir!, 0o777));
      if (spec.network) await this.#docker.createNetwork(spec.network);
      await Promise.all(spec.volumes.map((v) => this.#docker.createVolume(v)));
      // The engine boots (0.5–2 s) while the agent's container is made.
      const engine = spec.dind
        ? this.#docker.createContainer(spec.dind).then(async (c) => {
            await c.start();
            return c;
          })
        : undefined;
      engine?.catch(() => undefined);
      // Services start beside the agent rather than before it: the agent needs ~0.3 s to
      // register and claim, which covers most services' own start.
      const services = Promise.all(
        spec.services.map(async (options) => (await this.#docker.createContainer(options)).start()),
      );
      const agent = await this.#docker.createContainer(spec.agent);
      this.#agents.set(unit.unitId, agent.id);
      if (spec.ticketDir)
        await writeFile(join(spec.ticketDir, TICKET_FILE), `${await ticket}\n`, { mode: 0o444 });
      else await agent.putArchive(ticketArchive(await ticket), { path: '/' });
      await services;
      // The readiness gate: the agent (and so the job's first step) starts only once the
      // job's engine answers over TLS with the job's own client certificate.
      if (engine) await this.#dindReady(await engine);
      await agent.start();
    } catch (error) {
      if (error instanceof DindNotReadyError) {
        await this.remove(unit.unitId).catch(() => undefined);
        throw error;
      }
      await this.remove(unit.unitId).catch((e) =>
        this.#log.warn({ err: e, unit: unit.unitId }, 'cleanup failed'),
      );
      throw new UnitStartError(`starting ${unit.agentName} in ${unit.image} failed: ${describe(error)}`, {
        cause: error,
      });
    }
  }

  /** Waits for the sidecar's entrypoint to mark the engine answering over TLS. */
  async #dindReady(container: Dockerode.Container): Promise<void> {
    const timeoutMs = this.#o.dindReadyTimeoutMs ?? 60_000;
    const until = performance.now() + timeoutMs;
    const started = performance.now();
    for (;;) {
      try {
        // A HEAD on the file: no process started in the sidecar per probe.
        await container.infoArchive({ path: DIND_READY_FILE });
        this.#log.debug({ readyMs: Math.round(performance.now() - started) }, "the job's engine is ready");
        return;
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
      }
      const state = (await container.inspect()).State;
      if (!state.Running) {
        throw new DindNotReadyError(
          `the job's Docker engine (docker: dind) exited with code ${state.ExitCode} before it answered: ${await this.#tail(container)}`,
        );
      }
      if (performance.now() > until) {
        throw new DindNotReadyError(
          `the job's Docker engine (docker: dind) did not answer over TLS within ${Math.round(timeoutMs / 1000)} s: ${await this.#tail(container)}`,
        );
      }
      await sleep(50);
    }
  }

  async #tail(container: Dockerode.Container): Promise<string> {
    try {
      const raw = (await container.logs({ stdout: true, stderr: true, tail: 40 })) as unknown as Buffer;
      // dockerd's last words are its reason; its info and warning lines are noise around them.
      const lines = demuxDockerLogs(raw)
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !/level=(info|debug|warning)/.test(l));
      return lines.length === 0 ? '(no output)' : lines.slice(-3).join(' | ');
    } catch {
      return '(its output could not be read)';
    }
  }

  #hostSocket(): string {
    if (this.#o.hostSocket) return this.#o.hostSocket;
    const path = (this.#docker.modem as { socketPath?: unknown }).socketPath;
    return typeof path === 'string' && path !== '' ? path : '/var/run/docker.sock';
  }

  /** An image that is built locally (`slipway image build`), never pulled. */
  async #ensureLocalImage(ref: string): Promise<void> {
    try {
      await this.#docker.getImage(ref).inspect();
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      throw new ImageUnavailableError(ref, "it is built locally: run 'slipway image build'", {
        cause: error,
      });
    }
  }

  async wait(unitId: string): Promise<UnitExit> {
    for (;;) {
      const container = await this.#agentContainer(unitId);
      if (!container) return { exitCode: -1, oomKilled: false, vanished: true };
      try {
        await container.wait({ condition: 'not-running' });
      } catch (error) {
        if (statusOf(error) === 404) return { exitCode: -1, oomKilled: false, vanished: true };
        // The engine dropped the long request (restart, timeout): look again.
        this.#log.debug({ err: error, unit: unitId }, 'wait interrupted');
        await sleep(1_000);
      }
      try {
        const state = (await container.inspect()).State;
        if (!state.Running) return { exitCode: state.ExitCode, oomKilled: state.OOMKilled, vanished: false };
      } catch (error) {
        if (statusOf(error) === 404) return { exitCode: -1, oomKilled: false, vanished: true };
        throw error;
      }
    }
  }

  async stop(unitId: string, graceSeconds: number): Promise<void> {
    const container = await this.#agentContainer(unitId);
    try {
      await container?.stop({ t: Math.max(0, Math.round(graceSeconds)) });
    } catch (error) {
      // 304: not running; 404: gone. Either way it is stopped.
      if (statusOf(error) !== 304 && statusOf(error) !== 404) throw error;
    }
  }

  async remove(unitId: string): Promise<void> {
    const containers = await this.#docker.listContainers({
      all: true,
      filters: { label: [`${LABEL.unit}=${unitId}`] },
    });
    await Promise.all(containers.map((c) => this.#removeContainer(c.Id)));
    this.#agents.delete(unitId);
    const filters = { label: [`${LABEL.unit}=${unitId}`] };
    const networks = await this.#docker.listNetworks({ filters });
    await Promise.all(networks.map((n) => this.#removeNetwork(n.Id)));
    const { Volumes } = await this.#docker.listVolumes({ filters });
    await Promise.all((Volumes ?? []).map((v) => this.#removeVolume(v.Name)));
    await this.#removeTicketDir(unitId);
  }

  /** Beside the server's socket, which the engine is known to see; else under the OS temp directory. */
  async #makeTicketRoot(): Promise<string> {
    try {
      return await mkdtemp(join(dirname(this.#o.serverSocket), '.slipway-tickets-'));
    } catch {
      return mkdtemp(join(tmpdir(), 'slipway-tickets-'));
    }
  }

  /** A unit's ticket directory on the host (empty once its agent read the ticket). */
  async #removeTicketDir(unitId: string): Promise<void> {
    if (this.#ticketRoot && /^[A-Za-z0-9_-]+$/.test(unitId))
      await rm(join(this.#ticketRoot, unitId), { recursive: true, force: true });
  }

  async list(fleetId: string): Promise<UnitInfo[]> {
    const containers = await this.#docker.listContainers({
      all: true,
      filters: { label: [...fleetFilter(fleetId), `${LABEL.role}=agent`] },
    });
    return containers.map((c) => ({
      unitId: c.Labels[LABEL.unit] ?? '',
      agentName: c.Labels[LABEL.agent] ?? '',
      ...(c.Labels[LABEL.job] ? { jobId: c.Labels[LABEL.job] } : {}),
      running: c.State === 'running',
    }));
  }

  async gc(fleetId: string, keep: ReadonlySet<string>): Promise<GcReport> {
    const filters = { label: fleetFilter(fleetId) };
    const stray = (labels: Record<string, string> | undefined | null) =>
      labels?.[LABEL.role] !== FLEET_ROLE && !keep.has(labels?.[LABEL.unit] ?? '');
    const containers = (await this.#docker.listContainers({ all: true, filters })).filter((c) =>
      stray(c.Labels),
    );
    const units = containers
      .filter((c) => c.Labels[LABEL.role] === 'agent')
      .map((c) => ({
        unitId: c.Labels[LABEL.unit] ?? '',
        agentName: c.Labels[LABEL.agent] ?? '',
        ...(c.Labels[LABEL.job] ? { jobId: c.Labels[LABEL.job] } : {}),
        running: c.State === 'running',
      }));
    await Promise.all(containers.map((c) => this.#removeContainer(c.Id)));
    await Promise.all(units.map((u) => this.#removeTicketDir(u.unitId)));
    // Listed after the containers are gone: a network with endpoints cannot be removed.
    const networks = (await this.#docker.listNetworks({ filters })).filter((n) => stray(n.Labels));
    await Promise.all(networks.map((n) => this.#removeNetwork(n.Id)));
    const volumes = ((await this.#docker.listVolumes({ filters })).Volumes ?? []).filter((v) =>
      stray(v.Labels),
    );
    await Promise.all(volumes.map((v) => this.#removeVolume(v.Name)));
    return { units, containers: containers.length, networks: networks.length, volumes: volumes.length };
  }

  async logs(unitId: string, lines: number): Promise<string> {
    const container = await this.#agentContainer(unitId);
    if (!container) return '';
    try {
      const raw = (await container.logs({ stdout: true, stderr: true, tail: lines })) as unknown as Buffer;
      return demuxDockerLogs(raw);
    } catch {
      return '';
    }
  }

  async #agentContainer(unitId: string): Promise<Dockerode.Container | undefined> {
    const known = this.#agents.get(unitId);
    if (known) return this.#docker.getContainer(known);
    const [found] = await this.#docker.listContainers({
      all: true,
      filters: { label: [`${LABEL.unit}=${unitId}`, `${LABEL.role}=agent`] },
    });
    return found ? this.#docker.getContainer(found.Id) : undefined;
  }

  /** The image's env and user; pulls it first when it is missing and pulling is allowed. */
  async #ensureImage(ref: string): Promise<ImageFacts> {
    try {
      return facts(await this.#docker.getImage(ref).inspect());
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    if (this.#o.pull === false) throw new ImageUnavailableError(ref, 'pulling is turned off');
    this.#log.info({ image: ref }, 'pulling image');
    try {
      await this.#pull(ref);
    } catch (error) {
      throw new ImageUnavailableError(ref, describe(error), { cause: error });
    }
    return facts(await this.#docker.getImage(ref).inspect());
  }

  async #pull(ref: string): Promise<void> {
    const timeoutMs = this.#o.pullTimeoutMs ?? 300_000;
    const abort = AbortSignal.timeout(timeoutMs);
    const stream = await this.#docker.pull(ref, { abortSignal: abort });
    await new Promise<void>((resolve, reject) => {
      this.#docker.modem.followProgress(stream, (error: Error | null, events: Array<{ error?: string }>) => {
        const failed = events?.find((e) => e.error);
        if (error || failed) reject(error ?? new Error(failed!.error));
        else resolve();
      });
    });
  }

  async #removeContainer(id: string): Promise<void> {
    try {
      await this.#docker.getContainer(id).remove({ force: true, v: true });
    } catch (error) {
      // 404: gone already; 409: a removal is in progress.
      if (statusOf(error) !== 404 && statusOf(error) !== 409) throw error;
    }
  }

  async #removeNetwork(id: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#docker.getNetwork(id).remove();
        return;
      } catch (error) {
        if (statusOf(error) === 404) return;
        // An endpoint of a container removed a moment ago can linger briefly.
        if (attempt >= 5) throw error;
        await sleep(200);
      }
    }
  }

  async #removeVolume(name: string): Promise<void> {
    try {
      await this.#docker.getVolume(name).remove();
    } catch (error) {
      if (statusOf(error) !== 404 && statusOf(error) !== 409) throw error;
    }
  }
}

function facts(image: Dockerode.ImageInspectInfo): ImageFacts {
  return { env: image.Config?.Env ?? [], user: image.Config?.User ?? '' };
}

function describe(error: unknown): string {
  const json = (error as { json?: { message?: string } }).json;
  return json?.message ?? (error as Error).message ?? String(error);
}
