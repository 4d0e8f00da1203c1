import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, LeaseLostError, NotFoundError, ValidationError } from '../../shared/errors.js';
import { type Coordinator, LEASE_TTL_MS, startCoordinator } from '../../test-support/coordinator.js';

let c: Coordinator;
beforeEach(async () => {
  c = await startCoordinator();
});
afterEach(async () => {
  await c.stop();
});

const SECRET = 'hunter2-secret-value';

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

async function running() {
  const run = await c.queue('steps: [{ script: a }]\n', { secrets: { token: SECRET } });
  const jobId = run.jobs[0]!.id;
  const { cred } = await c.claim(jobId);
  return { run, jobId, cred };
}

describe('ArtifactService', () => {
  it('publishes once per run, and both the job and people read it back', async () => {
    const { run, jobId, cred } = await running();
    expect(await c.artifacts.publish(cred, jobId, 'dist', Buffer.from('tarball'))).toEqual({
      name: 'dist',
      size: 7,
    });
    await expect(c.artifacts.publish(cred, jobId, 'dist', Buffer.from('again'))).rejects.toThrow(
      ConflictError,
    );
    expect(await c.artifacts.listForJob(cred, jobId)).toEqual([{ name: 'dist', size: 7 }]);
    expect(await c.artifacts.listForRun(String(run.number))).toEqual([{ name: 'dist', size: 7 }]);
    expect(await text(await c.artifacts.openForJob(cred, jobId, 'dist'))).toBe('tarball');
    expect(await text(await c.artifacts.openForRun(run.id, 'dist'))).toBe('tarball');
    await expect(c.artifacts.openForRun(run.id, 'other')).rejects.toThrow(
      new NotFoundError('artifact', 'other'),
    );
    await expect(c.artifacts.listForRun('run_nope')).rejects.toThrow(new NotFoundError('run', 'run_nope'));
  });

  it("refuses a name that carries one of the run's secrets, and publishing after the lease was lost", async () => {
    const { run, jobId, cred } = await running();
    await expect(c.artifacts.publish(cred, jobId, `art-${SECRET}`, Buffer.from('x'))).rejects.toThrow(
      ValidationError,
    );
    c.clock.advance(LEASE_TTL_MS + 1);
    await c.scheduler.reapExpiredLeases();
    await expect(c.artifacts.publish(cred, jobId, 'late', Buffer.from('x'))).rejects.toThrow(LeaseLostError);
    await expect(c.artifacts.listForJob(cred, jobId)).rejects.toThrow(LeaseLostError);
    expect(await c.artifacts.listForRun(run.id)).toEqual([]);
  });
});
