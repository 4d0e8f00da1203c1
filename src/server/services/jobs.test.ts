import { afterEach, describe, expect, it } from 'vitest';
import {
  ForbiddenError,
  LeaseLostError,
  LogGapError,
  NotFoundError,
  ResultConflictError,
  ValidationError,
} from '../../shared/errors.js';
import type { PoolSettings } from '../../store/types.js';
import { type Coordinator, LEASE_TTL_MS, startCoordinator } from '../../test-support/coordinator.js';
import type { Notifier } from '../notifier.js';
import { JobService, LOG_PAGE_BYTES } from './jobs.js';

let c: Coordinator;
afterEach(async () => {
  await c.stop();
});

const SECRET = 'hunter2-secret-value';
const MIB = 1024 * 1024;

/** A run of one job with two steps, claimed: what an agent holds while it runs it. */
async function runningJob(
  pool: Partial<PoolSettings> = {},
  yaml = 'steps: [{ script: a }, { script: b }]\n',
) {
  c = await startCoordinator(pool);
  const run = await c.queue(yaml, { secrets: { token: SECRET } });
  const jobId = run.jobs[0]!.id;
  const { cred, spec } = await c.claim(jobId);
  return { run, jobId, cred, epoch: spec.epoch };
}

async function readLog(jobId: string, which: { attempt?: number; step?: number } = {}) {
  let text = '';
  let pages = 0;
  for await (const page of await c.jobs.openLog(jobId, which)) {
    text += page;
    pages++;
  }
  return { text, pages };
}

describe('JobService', () => {
  it("renews the lease from the server's clock and fences off other jobs and lost attempts", async () => {
    const { jobId, cred, epoch } = await runningJob();
    c.clock.advance(5_000);
    expect(await c.jobs.heartbeat(cred, jobId, { epoch, waitMs: 0 })).toEqual({
      cancel: false,
      leaseExpiresAt: new Date(c.clock.now() + LEASE_TTL_MS).toISOString(),
    });
    const other = await c.queue('steps: [{ script: a }]\n');
    await expect(c.jobs.heartbeat(cred, other.jobs[0]!.id, { epoch, waitMs: 0 })).rejects.toThrow(
      ForbiddenError,
    );
    await expect(c.jobs.heartbeat(cred, jobId, { epoch: epoch + 1, waitMs: 0 })).rejects.toThrow(
      LeaseLostError,
    );
    c.clock.advance(LEASE_TTL_MS + 1);
    await c.scheduler.reapExpiredLeases();
    await expect(c.jobs.heartbeat(cred, jobId, { epoch, waitMs: 0 })).rejects.toThrow(LeaseLostError);
  });

  it('answers a held heartbeat the moment its run is canceled', async () => {
    const { run, jobId, cred, epoch } = await runningJob();
    const beat = c.jobs.heartbeat(cred, jobId, { epoch, waitMs: 30_000 });
    await c.runs.cancel(run.id);
    expect((await beat).cancel).toBe(true);
  });

  it('does not hold a heartbeat for an agent that went away', async () => {
    const { jobId, cred, epoch } = await runningJob();
    const waits: string[] = [];
    const notifier = {
      notify() {},
      async wait(topic: string) {
        waits.push(topic);
      },
    } as unknown as Notifier;
    const jobs = new JobService({ ...c, notifier, workspaces: undefined as never });
    expect((await jobs.heartbeat(cred, jobId, { epoch, waitMs: 30_000 }, AbortSignal.abort())).cancel).toBe(
      false,
    );
    expect(waits).toEqual([]);
    await jobs.heartbeat(cred, jobId, { epoch, waitMs: 30_000 });
    expect(waits).toEqual([`job:${jobId}`]);
  });

  it("records steps with the run's secrets masked, timed by the server's clock", async () => {
    const { run, jobId, cred, epoch } = await runningJob();
    const started = c.clock.now();
    await c.jobs.updateStep(cred, jobId, { epoch, index: 0, state: 'running', name: `deploy ${SECRET}` });
    c.clock.advance(3_000);
    await c.jobs.updateStep(cred, jobId, {
      epoch,
      index: 0,
      state: 'completed',
      result: 'failed',
      reason: `exit code 1 (${SECRET})`,
    });
    const [step, next] = (await c.runs.view(run.id)).jobs[0]!.steps;
    expect(step).toEqual({
      index: 0,
      name: 'deploy ***',
      state: 'completed',
      result: 'failed',
      reason: 'exit code 1 (***)',
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(started + 3_000).toISOString(),
    });
    expect(next).toMatchObject({ index: 1, state: 'pending' });
    const events = (await c.runs.feed(run.id, { after: 0, waitMs: 0 })).events.filter(
      (e) => e.kind === 'step',
    );
    expect(events.map((e) => e.data)).toEqual([
      { status: 'running', name: 'deploy ***', result: null, reason: null },
      { status: 'completed', name: 'deploy ***', result: 'failed', reason: 'exit code 1 (***)' },
    ]);
    expect(JSON.stringify(events)).not.toContain(SECRET);
    await expect(c.jobs.updateStep(cred, jobId, { epoch, index: 2, state: 'running' })).rejects.toThrow(
      NotFoundError,
    );
    await expect(
      c.jobs.updateStep(cred, jobId, { epoch: epoch - 1, index: 1, state: 'running' }),
    ).rejects.toThrow(LeaseLostError);
  });

  it("appends log by offset, refuses gaps with the length to resend from, and cuts at the pool's limit", async () => {
    const { jobId, cred, epoch } = await runningJob({ maxStepLogMiB: 1 });
    expect(
      await c.jobs.appendLog(cred, jobId, { epoch, step: 0, offset: 0 }, Buffer.from('hello\n')),
    ).toEqual({
      length: 6,
    });
    const gap = c.jobs.appendLog(cred, jobId, { epoch, step: 0, offset: 10 }, Buffer.from('x'));
    await expect(gap).rejects.toThrow(LogGapError);
    await expect(gap).rejects.toMatchObject({ offset: 10, length: 6 });
    await expect(
      c.jobs.appendLog(cred, jobId, { epoch, step: 0, offset: 6 }, Buffer.from('é'.repeat(MIB / 2 + 1))),
    ).rejects.toThrow(ValidationError);
    // Half a character (the first byte of `é`) is not stored: each chunk must decode alone.
    await expect(
      c.jobs.appendLog(cred, jobId, { epoch, step: 0, offset: 6 }, Buffer.from([0x61, 0xc3])),
    ).rejects.toThrow(ValidationError);
    const line = `${'y'.repeat(1023)}\n`;
    let offset = 6;
    let last: { length: number; truncated?: true } | undefined;
    for (let i = 0; i < 2; i++) {
      last = await c.jobs.appendLog(cred, jobId, { epoch, step: 0, offset }, Buffer.from(line.repeat(700)));
      offset += 700 * 1024;
    }
    expect(last).toEqual({ length: 6 + 1400 * 1024, truncated: true });
    const { text } = await readLog(jobId, { step: 0 });
    expect(text.startsWith('hello\n')).toBe(true);
    expect(text).toContain('log truncated at 1 MiB (pool limit: 1 MiB per step, maxStepLogMiB)');
    await expect(
      c.jobs.appendLog(cred, jobId, { epoch: epoch + 1, step: 1, offset: 0 }, Buffer.from('late')),
    ).rejects.toThrow(LeaseLostError);
  });

  it('serves a log page by page, of the current attempt unless asked for another', async () => {
    c = await startCoordinator({ retryCountOnAgentLoss: 1 });
    const run = await c.queue('steps: [{ script: a }]\n');
    const jobId = run.jobs[0]!.id;
    const first = await c.claim(jobId);
    const chunk = 'z'.repeat(1000);
    for (let i = 0; i < 200; i++) {
      await c.jobs.appendLog(
        first.cred,
        jobId,
        {
          epoch: first.cred.epoch,
          step: 0,
          offset: i * 1000,
        },
        Buffer.from(chunk),
      );
    }
    c.clock.advance(LEASE_TTL_MS + 1);
    await c.scheduler.reapExpiredLeases();
    const second = await c.claim(jobId);
    await c.jobs.appendLog(
      second.cred,
      jobId,
      {
        epoch: second.cred.epoch,
        step: 0,
        offset: 0,
      },
      Buffer.from('again'),
    );

    expect((await readLog(jobId)).text).toBe('again');
    const lost = await readLog(jobId, { attempt: first.cred.epoch, step: 0 });
    expect(lost.text).toBe(chunk.repeat(200));
    expect(lost.pages).toBeGreaterThanOrEqual(Math.floor(200_000 / LOG_PAGE_BYTES));
    expect((await readLog(jobId, { step: -1 })).text).toBe('');
    await expect(c.jobs.openLog('job_nope', {})).rejects.toThrow(NotFoundError);
  });

  it('completes a job once: the same result again is fine, another is a conflict', async () => {
    const { run, jobId, cred, epoch } = await runningJob();
    const done = { epoch, result: 'succeeded' as const, outputs: {}, tags: [`tag-${SECRET}`] };
    await c.jobs.complete(cred, jobId, done);
    await c.jobs.complete(cred, jobId, done);
    await expect(c.jobs.complete(cred, jobId, { ...done, result: 'failed' })).rejects.toThrow(
      ResultConflictError,
    );
    expect(await c.runs.view(run.id)).toMatchObject({
      status: 'completed',
      result: 'succeeded',
      tags: ['tag-***'],
    });
    await expect(c.jobs.complete({ jobId: 'job_other', epoch }, jobId, done)).rejects.toThrow(ForbiddenError);
  });

  it("opens the run's workspace for the attempt holding the lease, and says when the run has none", async () => {
    c = await startCoordinator();
    const ws = await c.runs.uploadWorkspace(Buffer.from('archive bytes'));
    const run = await c.queue('steps: [{ script: a }]\n', { workspaceId: ws.id });
    const { cred } = await c.claim(run.jobs[0]!.id);
    const chunks: Buffer[] = [];
    for await (const chunk of await c.jobs.openWorkspace(cred, run.jobs[0]!.id)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('archive bytes');

    const bare = await c.queue('steps: [{ script: a }]\n');
    const other = await c.claim(bare.jobs[0]!.id);
    await expect(c.jobs.openWorkspace(other.cred, bare.jobs[0]!.id)).rejects.toThrow(NotFoundError);
    await expect(c.jobs.openWorkspace({ ...cred, epoch: cred.epoch + 1 }, run.jobs[0]!.id)).rejects.toThrow(
      LeaseLostError,
    );
  });
});
