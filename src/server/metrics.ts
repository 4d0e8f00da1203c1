import { Counter, Gauge, Registry } from 'prom-client';
import type { Store } from '../store/index.js';
import type { Dispatcher } from './dispatcher.js';

/**
 * Prometheus metrics. Gauges of state are read from the store at scrape time, so they cannot
 * drift from the truth; only what exists nowhere else (requests in flight) is counted here.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly inFlight: Gauge;
  readonly jobsCompleted: Counter<'result'>;
  readonly agentsLost: Counter;

  constructor(store: Store, dispatcher: Dispatcher) {
    const registry = this.registry;
    this.inFlight = new Gauge({
      name: 'slipway_http_requests_in_flight',
      help: 'HTTP requests being served, long polls included',
      registers: [registry],
    });
    this.jobsCompleted = new Counter({
      name: 'slipway_jobs_completed_total',
      help: 'Jobs that reached a result',
      labelNames: ['result'],
      registers: [registry],
    });
    this.agentsLost = new Counter({
      name: 'slipway_agent_lost_total',
      help: 'Job attempts failed because their agent stopped renewing the lease',
      registers: [registry],
    });
    new Gauge({
      name: 'slipway_jobs',
      help: 'Jobs by state',
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        for (const state of ['pending', 'queued', 'running'] as const) {
          this.set({ state }, (await store.listJobsByStatus(state)).length);
        }
      },
    });
    new Gauge({
      name: 'slipway_leases_active',
      help: 'Job leases held by agents',
      registers: [registry],
      async collect() {
        this.set((await store.listJobsByStatus('running')).length);
      },
    });
    new Gauge({
      name: 'slipway_polls_waiting',
      help: 'Agents waiting in a long poll',
      registers: [registry],
      collect() {
        this.set(dispatcher.waitingTotal());
      },
    });
    new Gauge({
      name: 'slipway_agents_registered',
      help: 'Registered agents',
      registers: [registry],
      async collect() {
        this.set((await store.listAgents()).length);
      },
    });
  }
}
