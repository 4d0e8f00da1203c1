import { expect, it } from 'vitest';
import type { ApiClient } from '../protocol/client.js';
import { runView } from '../protocol/schemas.js';
import { useTestFleets } from '../test-support/fleets.js';
import { countLabelled, finishRun, queueRun, waitFor } from './fleet-test-support.js';

const fleets = useTestFleets();
const { docker } = fleets;

async function runningJob(client: ApiClient, token: string, runId: string) {
  await waitFor(async () => {
    const view = runView.parse((await client.request(`runs/${runId}`, { token })).body);
    return view.jobs[0]?.status === 'running';
  }, 'the job to run');
}

it('on stop lets a running job finish before it removes its containers', async () => {
  const { client, adminToken, fleet, label } = await fleets.start({
    drainTimeoutMs: 60_000,
  });
  const run = await queueRun(client, adminToken, 'steps:\n- script: sleep 3 && echo finished\n');
  await runningJob(client, adminToken, run.id);
  const stopping = fleet.stop();
  const done = await finishRun(client, adminToken, run.id);
  await stopping;
  expect(done.run.result).toBe('succeeded');
  expect(done.log).toContain('finished');
  expect(fleet.state).toBe('stopped');
  expect(await countLabelled(docker, label)).toEqual({ containers: 0, networks: 0, volumes: 0 });
}, 120_000);

it('bounds the drain: a job longer than the drain timeout is stopped, and nothing is left', async () => {
  const { client, adminToken, fleet, label } = await fleets.start({
    drainTimeoutMs: 1_000,
  });
  const run = await queueRun(client, adminToken, 'steps:\n- script: sleep 60\n');
  await runningJob(client, adminToken, run.id);
  const started = Date.now();
  await fleet.stop();
  expect(Date.now() - started).toBeLessThan(30_000);
  const done = await finishRun(client, adminToken, run.id, 30_000);
  expect(['canceled', 'failed']).toContain(done.run.result);
  expect(await countLabelled(docker, label)).toEqual({ containers: 0, networks: 0, volumes: 0 });
}, 120_000);
