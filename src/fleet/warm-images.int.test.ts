import { expect, it } from 'vitest';
import { poolDemandResponse } from '../protocol/schemas.js';
import { useTestFleets } from '../test-support/fleets.js';
import type { UnitEvent } from './fleet-manager.js';
import { importBusyboxOnlyImage, runPipeline, waitFor } from './fleet-test-support.js';

const fleets = useTestFleets();
const { docker } = fleets;

it('starts the second job in a custom image on an agent of that image that was already warm, and the fleet view names the image', async () => {
  const { client, adminToken, fleet, runId } = await fleets.start({ minIdle: 0, max: 3, warmPerImage: 1 });
  const started: Array<UnitEvent & { at: number }> = [];
  fleet.on('unitStarted', (u) => started.push({ ...u, at: Date.now() }));
  const image = await importBusyboxOnlyImage(
    docker,
    { repo: 'slipway-test/busybox-only', tag: `warm-${runId}` },
    { 'slipway.test': runId },
  );
  try {
    const yaml = `jobs:\n- job: tiny\n  container: ${image}\n  steps:\n  - script: echo ran on $(Agent.Name)\n`;
    const first = await runPipeline(client, adminToken, yaml);
    expect(first.run.result).toBe('succeeded');

    // A warm agent of that image, not bound to any job, waits for the next one.
    const warm = await waitFor(async () => {
      const { body } = await client.request('pools/default/demand?waitMs=0', { token: adminToken });
      const polling = new Set(
        poolDemandResponse
          .parse(body)
          .agents.filter((a) => a.polling && !a.busy)
          .map((a) => a.name),
      );
      return started.find((u) => u.image === image && u.jobId === undefined && polling.has(u.name));
    }, 'an idle warm agent of the custom image');
    const view = await waitFor(async () => {
      const [f] = await client.listFleets('default', { token: adminToken });
      return f?.status?.warmImages?.find((w) => w.image === image && w.idle === 1);
    }, 'the fleet view to name the warm image');
    expect(view).toEqual({ image, idle: 1, starting: 0 });

    const queuedAt = Date.now();
    const second = await runPipeline(client, adminToken, yaml);
    expect(second.run.result).toBe('succeeded');
    const job = second.run.jobs[0]!;
    expect(job.agentName).toBe(warm.name);
    expect(second.log).toContain(`ran on ${warm.name}`);
    expect(warm.at).toBeLessThan(queuedAt);
    // Nothing was started for the second job itself.
    expect(started.filter((u) => u.jobId === job.id)).toEqual([]);
  } finally {
    await fleet.stop();
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => undefined);
  }
}, 180_000);
