import type { ApiClient, FleetStatus, PoolDemand } from '../protocol/index.js';
import { AgentBusyError, ConflictError, NotFoundError } from '../shared/errors.js';

/** The admin API calls a fleet makes, with the admin token it alone holds. */
export class FleetApi {
  constructor(
    private readonly client: ApiClient,
    private readonly token: string,
    private readonly pool: string,
  ) {}

  async poolSettings() {
    const pools = await this.client.listPools({ token: this.token });
    return pools.find((p) => p.name === this.pool)?.settings;
  }

  /** Long-polls: answers at once when jobs are queued, else when one is or `waitMs` passes. */
  async demand(waitMs: number, signal?: AbortSignal): Promise<PoolDemand> {
    return this.client.poolDemand(this.pool, waitMs, {
      token: this.token,
      timeoutMs: waitMs + 15_000,
      signal,
    });
  }

  async ticket(name: string, jobId: string | undefined, ttlSeconds: number): Promise<string> {
    const body = { name, ...(jobId === undefined ? {} : { jobId }), ttlSeconds };
    return (await this.client.createTicket(this.pool, body, { token: this.token })).ticket;
  }

  /** Fails a queued job the fleet cannot start, so its run ends instead of waiting forever. */
  async failJob(jobId: string, reason: string): Promise<void> {
    try {
      await this.client.failJob(this.pool, jobId, { reason }, { token: this.token });
    } catch (error) {
      // Already running or finished elsewhere: nothing to fail.
      if (!(error instanceof ConflictError || error instanceof NotFoundError)) throw error;
    }
  }

  async heartbeat(id: string, capabilities: Record<string, string>, status?: FleetStatus): Promise<void> {
    const body = { id, capabilities, ...(status ? { status } : {}) };
    await this.client.fleetHeartbeat(this.pool, body, { token: this.token });
  }

  /** Stops the agent taking work; true when it runs a job (which then goes on). Absent: false. */
  async drain(name: string): Promise<boolean> {
    try {
      return (await this.client.drainAgent(this.pool, name, { token: this.token })).busy;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  }

  /** Removes a registration; 'busy' while the server still counts a job running on it. */
  async removeAgent(name: string): Promise<'removed' | 'absent' | 'busy'> {
    try {
      await this.client.removeAgent(this.pool, name, { token: this.token });
      return 'removed';
    } catch (error) {
      if (error instanceof NotFoundError) return 'absent';
      if (error instanceof AgentBusyError) return 'busy';
      throw error;
    }
  }

  async agents() {
    return this.client.listAgents(this.pool, { token: this.token });
  }
}
