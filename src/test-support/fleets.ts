import { join } from 'node:path';
import Docker from 'dockerode';
import { afterEach, beforeAll } from 'vitest';
import { startTestFleet } from '../fleet/fleet-test-support.js';
import { buildImages } from '../images/index.js';
import { ROOT } from './harness.js';

/**
 * Registers hooks for a test file whose tests each start their own server and fleet: the images
 * are built (or found cached) once, and each test's fleet, server and containers go after it.
 */
export function useTestFleets() {
  const docker = new Docker();
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    await buildImages({ docker, agentBundlePath: join(ROOT, 'dist', 'agent', 'slipway-agent.mjs') });
  }, 180_000);
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  return {
    docker,
    start: (o: Parameters<typeof startTestFleet>[2] = {}) => startTestFleet(docker, cleanups, o),
  };
}
