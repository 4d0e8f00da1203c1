import { afterEach, beforeEach, expect, it } from 'vitest';
import { type ServiceWorld, serviceWorld } from '../test-support/services.js';
import { MAX_DEMAND_SETS, ServerMetrics } from './metrics.js';

let w: ServiceWorld;
beforeEach(async () => {
  w = await serviceWorld();
});
afterEach(() => w.stop());

it('gives at most MAX_DEMAND_SETS demand sets a label of their own, sorted, and counts the rest as other', async () => {
  const metrics = new ServerMetrics({
    store: w.store,
    dispatcher: w.dispatcher,
    listAgents: async () => [],
    listFleets: async () => [],
  });
  // No agent serves the pool: every job stays queued.
  for (let i = 0; i < MAX_DEMAND_SETS + 5; i++) {
    // Each job its own demand set, written in a different order than the label sorts it.
    await w.queue(`pool: { name: default, demands: [cap${i}, busy-marker] }\nsteps: [{ script: a }]\n`);
  }
  const text = await metrics.registry.getSingleMetricAsString('slipway_queue_depth');
  const labels = [...text.matchAll(/demands="([^"]*)"/g)].map((m) => m[1]!);
  expect(new Set(labels).size).toBe(MAX_DEMAND_SETS + 1);
  expect(labels).toContain('busy-marker,cap0');
  expect(text).toMatch(/slipway_queue_depth\{pool="default",demands="other"\} 5/);
});
