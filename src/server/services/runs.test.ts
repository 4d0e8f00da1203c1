import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../../shared/errors.js';
import type { Store } from '../../store/types.js';
import { type Coordinator, startCoordinator } from '../../test-support/coordinator.js';
import type { Notifier } from '../notifier.js';
import { RunService } from './runs.js';

let c: Coordinator;
beforeEach(async () => {
  c = await startCoordinator();
});
afterEach(async () => {
  await c.stop();
});

const jobsYaml = (n: number) =>
  `jobs:\n${Array.from({ length: n }, (_, i) => `- job: j${i}\n  steps: [{ script: a }, { script: b }]\n`).join('')}`;

/** The store, counting every call made through it. */
function counting(store: Store): { store: Store; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(key));
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

describe('RunService', () => {
  it('views a run of many jobs with the same few queries as a run of one', async () => {
    const run = await c.queue(jobsYaml(12));
    for (const job of run.jobs) await c.claim(job.id);
    const { store, calls } = counting(c.store);
    const runs = new RunService({
      store,
      scheduler: c.scheduler,
      notifier: c.notifier,
      workspaces: undefined as never,
      clock: c.clock,
    });
    const view = await runs.view(String(run.number));
    expect(view.jobs).toHaveLength(12);
    expect(view.jobs.every((j) => j.steps.map((s) => s.state).join() === 'pending,pending')).toBe(true);
    expect(calls).toEqual(['getRunByNumber', 'listJobs', 'listRunSteps']);
  });

  it("shows each job's steps of its current attempt only, after an attempt was lost", async () => {
    await c.store.createPool('retrying', { allowDockerSocket: false, retryCountOnAgentLoss: 1 }, 0);
    const retried = await c.queue('pool: retrying\nsteps: [{ script: a }]\n');
    const first = await c.claim(retried.jobs[0]!.id);
    await c.jobs.updateStep(first.cred, retried.jobs[0]!.id, {
      epoch: first.spec.epoch,
      index: 0,
      state: 'running',
    });
    c.clock.advance(10 * 60_000);
    await c.scheduler.reapExpiredLeases();
    await c.claim(retried.jobs[0]!.id);
    const view = await c.runs.view(retried.id);
    expect(view.jobs[0]).toMatchObject({ attempt: 2, status: 'running' });
    expect(view.jobs[0]!.steps).toMatchObject([{ index: 0, state: 'pending', startedAt: null }]);
  });

  it('finds runs by id and by number, and says which one it could not find', async () => {
    const run = await c.queue(jobsYaml(1));
    expect((await c.runs.view(run.id)).number).toBe(run.number);
    expect((await c.runs.view(String(run.number))).id).toBe(run.id);
    await expect(c.runs.view('99')).rejects.toThrow(new NotFoundError('run', '99'));
    await expect(c.runs.cancel('run_nope')).rejects.toThrow(NotFoundError);
  });

  it('lists the newest runs first, as many as asked', async () => {
    const a = await c.queue(jobsYaml(1));
    const b = await c.queue(jobsYaml(2));
    expect((await c.runs.list(50)).map((r) => r.id)).toEqual([b.id, a.id]);
    expect((await c.runs.list(1)).map((r) => r.jobs.length)).toEqual([2]);
  });

  it('queues a run on an uploaded workspace only', async () => {
    await expect(c.queue(jobsYaml(1), { workspaceId: 'f'.repeat(64) })).rejects.toThrow(ValidationError);
    const ws = await c.runs.uploadWorkspace(Buffer.from('not really a tarball'));
    expect(ws.size).toBe(20);
    const run = await c.queue(jobsYaml(1), { workspaceId: ws.id });
    expect(run.status).toBe('queued');
  });

  it('cancels a queued run and shows it canceled', async () => {
    const run = await c.queue(jobsYaml(2));
    const view = await c.runs.cancel(run.id);
    expect(view).toMatchObject({ status: 'completed', result: 'canceled' });
    expect(view.jobs.map((j) => j.result)).toEqual(['canceled', 'canceled']);
    expect((await c.runs.cancel(run.id)).result).toBe('canceled');
  });

  it('serves the feed from a seq, waits for news, and says done once all of a finished run is read', async () => {
    const run = await c.queue(jobsYaml(1));
    const first = await c.runs.feed(run.id, { after: 0, waitMs: 0 });
    expect(first.events.slice(0, 2).map((e) => [e.kind, statusOf(e)])).toEqual([
      ['run', 'queued'],
      ['job', 'queued'],
    ]);
    expect(first.done).toBe(false);
    expect(first.events[0]!.at).toBe(new Date(c.clock.now()).toISOString());

    // Nothing new: the feed waits, and the claim's news wakes it.
    const waiting = c.runs.feed(String(run.number), { after: first.next, waitMs: 30_000 });
    const { cred } = await c.claim(run.jobs[0]!.id);
    const woken = await waiting;
    expect(woken.events.map((e) => statusOf(e))).toContain('running');

    await c.jobs.complete(cred, run.jobs[0]!.id, {
      epoch: cred.epoch,
      result: 'succeeded',
      outputs: {},
      tags: [],
    });
    const rest = await c.runs.feed(run.id, { after: woken.next, waitMs: 30_000 });
    expect(rest.events.at(-1)!.data).toEqual({ status: 'completed', result: 'succeeded' });
    expect(rest.done).toBe(true);
    // A finished run's feed never waits, even when asked to.
    expect(await c.runs.feed(run.id, { after: rest.next, waitMs: 30_000 })).toEqual({
      events: [],
      next: rest.next,
      done: true,
    });
  });

  it('does not wait for a client that went away', async () => {
    const run = await c.queue(jobsYaml(1));
    const waits: string[] = [];
    const notifier = {
      notify() {},
      async wait(topic: string) {
        waits.push(topic);
      },
    } as unknown as Notifier;
    const runs = new RunService({ ...c, notifier, workspaces: undefined as never });
    const { next } = await runs.feed(run.id, { after: 0, waitMs: 0 });
    expect(await runs.feed(run.id, { after: next, waitMs: 30_000 }, AbortSignal.abort())).toEqual({
      events: [],
      next,
      done: false,
    });
    expect(waits).toEqual([]);
    await runs.feed(run.id, { after: next, waitMs: 30_000 });
    expect(waits).toEqual([`run:${run.id}`]);
  });
});

/** The status an event reports; log events have none. */
function statusOf(e: { data: object }): unknown {
  return 'status' in e.data ? e.data.status : undefined;
}
