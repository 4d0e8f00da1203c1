import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiClient } from '../protocol/client.js';
import { sleep } from '../shared/clock.js';
import { killAll, spawnAgentAt, startTestServer, type TestServer } from '../test-support/harness.js';

// A hostile job floods the fleet's Unix socket with bad tokens. Every caller on that socket is
// one client to the server, so the flood must not lock out the agent, its lease or the fleet.
let ts: TestServer;
let socketPath: string;

beforeAll(async () => {
  ts = await startTestServer({
    socketPath: join(process.env.TMPDIR ?? '/tmp', `slw-flood-${process.pid}.sock`),
  });
  socketPath = ts.server.socketPath!;
});
afterAll(async () => {
  await killAll();
  await ts?.stop();
});

async function waitForRun(
  client: ApiClient,
  runId: string,
): Promise<{ result: string; jobs: { reason: string | null }[] }> {
  for (;;) {
    const { body } = await client.request<{
      status: string;
      result: string;
      jobs: { reason: string | null }[];
    }>(`runs/${runId}`, { token: ts.adminToken });
    if (body.status === 'completed') return body;
    await sleep(100);
  }
}

it('runs a second run to success while a flood of bad tokens hits the same socket', {
  timeout: 120_000,
}, async () => {
  const socket = new ApiClient(`unix://${socketPath}`);
  await spawnAgentAt(`unix://${socketPath}`, await ts.pat(), 'flooded', join(ts.dir, 'work', 'flooded'));
  const queue = async (script: string) =>
    (
      await socket.request<{ id: string }>('runs', {
        token: ts.adminToken,
        body: { pipeline: { file: 'p.yml', content: `steps:\n- script: ${script}\n` } },
      })
    ).body.id;

  // The first run holds a lease while the flood starts: its heartbeats share the flooded socket.
  const first = await queue('sleep 4 && echo first done');
  const statuses = new Map<number, number>();
  let flooding = true;
  const repeated = `slw_job_${randomBytes(32).toString('base64url')}`;
  const flood = Promise.all(
    Array.from({ length: 4 }, async (_, worker) => {
      for (let i = 0; flooding; i++) {
        // Fresh guesses, and one stolen-looking token presented over and over.
        const token = i % 2 ? repeated : `slw_pat_${randomBytes(32).toString('base64url')}`;
        const path = [`jobs/x${worker}/heartbeat`, 'runs', 'pools/default/demand', 'agents/poll'][i % 4]!;
        const res = await socket.fetch(path, i % 4 === 1 || i % 4 === 2 ? { token } : { token, body: {} });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  try {
    await sleep(500);
    const second = await queue('echo second done');
    // The fleet-facing and admin API keep answering on the flooded socket meanwhile.
    const demand = await socket.request<{ queued: unknown[] }>('pools/default/demand', {
      token: ts.adminToken,
    });
    expect(demand.status).toBe(200);
    expect((await socket.request('agents', { token: ts.adminToken })).status).toBe(200);
    const [a, b] = await Promise.all([waitForRun(socket, first), waitForRun(socket, second)]);
    expect({ result: a.result, reason: a.jobs[0]?.reason ?? null }).toEqual({
      result: 'succeeded',
      reason: null,
    });
    expect({ result: b.result, reason: b.jobs[0]?.reason ?? null }).toEqual({
      result: 'succeeded',
      reason: null,
    });
  } finally {
    flooding = false;
    await flood;
  }
  // The flood itself was refused all along: 401 at first, then 429 for the rest.
  expect([...statuses.keys()].sort()).toEqual([401, 429]);
  expect(statuses.get(429)!).toBeGreaterThan(100);
});
