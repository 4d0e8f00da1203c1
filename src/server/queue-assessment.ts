import type { AgentRow, FleetRow, JobRow, PoolRow } from '../store/index.js';
import { formatDemand, unmetDemands } from './demands.js';
import { needsContainerRuntime } from './dispatcher.js';

/** What could serve a pool at one moment: its registered agents, which of them are busy, its live fleets. */
export interface PoolServers {
  pool: PoolRow;
  agents: AgentRow[];
  busyAgentIds: ReadonlySet<string>;
  fleets: FleetRow[];
}

/**
 * Why a queued job has not started, or why it never will:
 * - `impossible`: nothing that serves the pool could ever run it (fail it now);
 * - `unserved`: nothing serves the pool at all yet (an agent or a fleet may be on its way: wait,
 *   up to the pool's queue timeout);
 * - `waiting`: something could run it but is busy or still starting;
 * - `ready`: an idle agent fits; the dispatcher hands it over.
 */
export type QueueAssessment =
  | { kind: 'impossible'; reason: string }
  | { kind: 'unserved'; reason: string }
  | { kind: 'waiting'; reason: string }
  | { kind: 'ready' };

/** Pure: the same job and servers always give the same answer, so every replica agrees. */
export function assessQueuedJob(job: JobRow, servers: PoolServers): QueueAssessment {
  const { pool, fleets } = servers;
  if (job.plan.docker === 'socket' && !pool.settings.allowDockerSocket) {
    return {
      kind: 'impossible',
      reason: `job '${job.name}' asks for 'docker: socket', which pool '${pool.name}' does not allow (it gives the job root on the host): allow it with 'slipway pool update ${pool.name} --allow-docker-socket'`,
    };
  }
  if (job.plan.docker === 'dind' && pool.settings.allowDind !== true) {
    return {
      kind: 'impossible',
      reason: `job '${job.name}' asks for 'docker: dind', which pool '${pool.name}' does not allow: allow it with 'slipway pool update ${pool.name} --allow-dind'`,
    };
  }
  if (job.plan.docker === 'rootless' && pool.settings.allowRootlessBuilds !== true) {
    return {
      kind: 'impossible',
      reason: `job '${job.name}' asks for 'docker: rootless', which pool '${pool.name}' does not allow: allow it with 'slipway pool update ${pool.name} --allow-rootless-builds'`,
    };
  }
  if (needsContainerRuntime(job)) {
    if (fleets.length > 0) {
      const full = atMaximum(fleets);
      return {
        kind: 'waiting',
        reason: full
          ? `waiting for the fleet of pool '${pool.name}': it runs its maximum of ${full} containers`
          : `waiting for the fleet of pool '${pool.name}' to start its container`,
      };
    }
    return {
      kind: 'impossible',
      reason: `job '${job.name}' runs in a container (${job.plan.container?.image ?? 'services'}), and no fleet serves pool '${pool.name}': start one with 'slipway up' or 'slipway fleet'`,
    };
  }

  // Agents started for one job (fleet tickets) serve only that job.
  const agents = servers.agents.filter((a) => a.boundJobId === null);
  // Registered but not yet in session: their capabilities are not known yet.
  const announcing = agents.filter((a) => a.sessionId === null);
  const known = agents.filter((a) => a.sessionId !== null);
  const demands = job.plan.pool.demands;
  const fitting = known.filter((a) => unmetDemands(demands, a.capabilities).length === 0);
  const fleetFits = fleets.some((f) => unmetDemands(demands, f.capabilities).length === 0);

  const idle = fitting.filter((a) => !a.draining && !servers.busyAgentIds.has(a.id));
  if (idle.length > 0) return { kind: 'ready' };
  if (fitting.length > 0 || fleetFits) {
    const busy = fitting.filter((a) => servers.busyAgentIds.has(a.id)).length;
    const draining = fitting.length - busy;
    const parts = [`0 idle`, `${busy} busy`];
    if (draining > 0) parts.push(`${draining} draining`);
    const full = atMaximum(fleets.filter((f) => unmetDemands(demands, f.capabilities).length === 0));
    const fleet = !fleetFits
      ? ''
      : full
        ? `; the fleet is at its maximum of ${full} containers`
        : '; the fleet may start one';
    return {
      kind: 'waiting',
      reason: `waiting for an agent in pool '${pool.name}'${describeDemands(job)}: ${parts.join(', ')}${fleet}`,
    };
  }
  if (announcing.length > 0) {
    return {
      kind: 'waiting',
      reason:
        announcing.length === 1
          ? `waiting for an agent of pool '${pool.name}' to announce its capabilities`
          : `waiting for ${announcing.length} agents of pool '${pool.name}' to announce their capabilities`,
    };
  }
  if (known.length === 0 && fleets.length === 0) {
    return { kind: 'unserved', reason: `no agent and no fleet serve pool '${pool.name}'` };
  }
  const unmet = [
    ...new Set(
      [...known.map((a) => a.capabilities), ...fleets.map((f) => f.capabilities)]
        .flatMap((caps) => unmetDemands(demands, caps))
        .map(formatDemand),
    ),
  ];
  return {
    kind: 'impossible',
    reason: `no agent in pool '${pool.name}' meets the demands of job '${job.name}': ${unmet.join(', ')}`,
  };
}

/**
 * The fleets' maximum when every one of them reported running that many containers (so none
 * will start another until one ends); undefined when one may still start one, or did not say.
 */
function atMaximum(fleets: FleetRow[]): number | undefined {
  if (fleets.length === 0) return undefined;
  const full = fleets.every((f) => f.status && f.status.containers >= f.status.max);
  return full ? fleets.reduce((n, f) => n + f.status!.max, 0) : undefined;
}

function describeDemands(job: JobRow): string {
  const demands = job.plan.pool.demands;
  return demands.length === 0 ? '' : ` that meets ${demands.map(formatDemand).join(', ')}`;
}
