import { z } from 'zod';
import { type ApiClient, HttpError } from '../protocol/client.js';
import { createTicketResponse, type PoolDemand, poolDemandResponse, poolView } from '../protocol/schemas.js';

const agentList = z.array(
  z.object({ name: z.string(), capabilities: z.record(z.string(), z.string()), busy: z.boolean() }),
);

/** The admin API calls a fleet makes, with the admin token it alone holds. */
export class FleetApi {
  constructor(
    private readonly client: ApiClient,
    private readonly token: string,
    private readonly pool: string,
  ) {}

  private path(rest = ''): string {
    return `pools/${encodeURIComponent(this.pool)}${rest}`;
  }

  async poolSettings() {
    const { body } = await this.client.request('pools', { token: this.token });
    const pool = poolView
      .array()
      .parse(body)
      .find((p) => p.name === this.pool);
    return pool?.settings;
  }

  /** Long-polls: answers at once when jobs are queued, else when one is or `waitMs` passes. */
  async demand(waitMs: number, signal?: AbortSignal): Promise<PoolDemand> {
    const { body } = await this.client.request(this.path(`/demand?waitMs=${waitMs}`), {
      token: this.token,
      timeoutMs: waitMs + 15_000,
      signal,
    });
    return poolDemandResponse.parse(body);
  }

  async ticket(name: string, jobId: string | undefined, ttlSeconds: number): Promise<string> {
    const { body } = await this.client.request(this.path('/tickets'), {
      token: this.token,
      body: { name, ...(jobId === undefined ? {} : { jobId }), ttlSeconds },
    });
    return createTicketResponse.parse(body).ticket;
  }

  /** Fails a queued job the fleet cannot start, so its run ends instead of waiting forever. */
  async failJob(jobId: string, reason: string): Promise<void> {
    try {
      await this.client.request(this.path(`/jobs/${encodeURIComponent(jobId)}/fail`), {
        token: this.token,
        body: { reason },
      });
    } catch (error) {
      // Already running or finished elsewhere: nothing to fail.
      if (!(error instanceof HttpError && (error.status === 409 || error.status === 404))) throw error;
    }
  }

  async heartbeat(id: string, capabilities: Record<string, string>): Promise<void> {
    await this.client.request(this.path('/fleet'), {
      method: 'PUT',
      token: this.token,
      body: { id, capabilities },
    });
  }

  /** Stops the agent taking work; true when it runs a job (which then goes on). Absent: false. */
  async drain(name: string): Promise<boolean> {
    try {
      const { body } = await this.client.request(this.path(`/agents/${encodeURIComponent(name)}/drain`), {
        method: 'POST',
        token: this.token,
      });
      return z.object({ busy: z.boolean() }).parse(body).busy;
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return false;
      throw error;
    }
  }

  /** Removes a registration; 'busy' while the server still counts a job running on it. */
  async removeAgent(name: string): Promise<'removed' | 'absent' | 'busy'> {
    try {
      await this.client.request(this.path(`/agents/${encodeURIComponent(name)}`), {
        method: 'DELETE',
        token: this.token,
      });
      return 'removed';
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return 'absent';
      if (error instanceof HttpError && error.status === 409) return 'busy';
      throw error;
    }
  }

  async agents() {
    const { body } = await this.client.request(`agents?pool=${encodeURIComponent(this.pool)}`, {
      token: this.token,
    });
    return agentList.parse(body);
  }
}
