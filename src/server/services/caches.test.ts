import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalDiskBlobStore } from '../../blobs/index.js';
import { ForbiddenError, LeaseLostError, ValidationError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { type Coordinator, LEASE_TTL_MS, startCoordinator } from '../../test-support/coordinator.js';
import { CacheService } from './caches.js';

let c: Coordinator;
let caches: CacheService;
let blobs: LocalDiskBlobStore;
beforeEach(async () => {
  c = await startCoordinator();
  blobs = new LocalDiskBlobStore({ root: join(c.dir, 'blobs') });
  caches = new CacheService({
    store: c.store,
    blobs,
    clock: c.clock,
    logger: silentLogger,
    maxEntryBytes: 1000,
    maxTotalBytes: 2500,
  });
});
afterEach(async () => {
  await c.stop();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function running(source: Record<string, string> = { branch: 'refs/heads/main' }, untrusted = false) {
  const run = await c.queue('steps: [{ script: a }]\n', { source, untrusted });
  const jobId = run.jobs[0]!.id;
  const { cred } = await c.claim(jobId);
  return { jobId, cred };
}

async function save(job: Awaited<ReturnType<typeof running>>, key: string, content: string) {
  const bytes = Buffer.from(content);
  return caches.save(
    job.cred,
    job.jobId,
    { key, sha256: sha(bytes), size: bytes.length },
    Readable.from([bytes]),
  );
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('CacheService', () => {
  it('finds the exact key first, then restore keys as prefixes, newest first', async () => {
    const job = await running();
    await save(job, 'npm|linux|aaa', 'one');
    c.clock.advance(1000);
    await save(job, 'npm|linux|bbb', 'two');
    expect(await caches.lookup(job.cred, job.jobId, ['npm|linux|aaa', 'npm|linux'])).toMatchObject({
      key: 'npm|linux|aaa',
      exact: true,
    });
    const inexact = await caches.lookup(job.cred, job.jobId, ['npm|linux|ccc', 'npm|mac', 'npm|linux']);
    expect(inexact).toMatchObject({ key: 'npm|linux|bbb', exact: false });
    expect(await text(await caches.open(job.cred, job.jobId, inexact!.id))).toBe('two');
    expect(await caches.lookup(job.cred, job.jobId, ['pip|x'])).toBeNull();
    // Entries are immutable: a second save of a key keeps the first.
    expect(await save(job, 'npm|linux|aaa', 'other')).toEqual({ saved: false, evicted: 0 });
    expect(await caches.reserve(job.cred, job.jobId, 'npm|linux|aaa', 5)).toEqual({ exists: true });
  });

  it('lets a job open only entries its run may read, and only while it holds the lease', async () => {
    const trusted = await running();
    const untrusted = await running({ branch: 'refs/heads/main' }, true);
    await save(untrusted, 'k', 'poison');
    const [poison] = await c.store.listCacheEntries();
    expect(poison?.scope).toBe('untrusted:refs/heads/main');
    expect(await caches.lookup(trusted.cred, trusted.jobId, ['k'])).toBeNull();
    await expect(caches.open(trusted.cred, trusted.jobId, poison!.id)).rejects.toThrow(ForbiddenError);
    c.clock.advance(LEASE_TTL_MS + 1);
    await c.scheduler.reapExpiredLeases();
    await expect(caches.lookup(untrusted.cred, untrusted.jobId, ['k'])).rejects.toThrow(LeaseLostError);
  });

  it('refuses an entry over the size limit with a message naming the setting', async () => {
    const job = await running();
    await expect(caches.reserve(job.cred, job.jobId, 'big', 5000)).rejects.toThrow(
      /larger than this server's limit of .* per entry \(slipway server --cache-max-entry-gib\)/,
    );
    await expect(save(job, 'big', 'x'.repeat(1001))).rejects.toThrow(ValidationError);
    expect(await c.store.listCacheEntries()).toEqual([]);
  });

  it('keeps nothing of an upload that is cut off or does not match its checksum', async () => {
    const job = await running();
    const cut = new PassThrough();
    const saving = caches.save(job.cred, job.jobId, { key: 'cut', sha256: 'a'.repeat(64), size: 100 }, cut);
    cut.write(Buffer.alloc(40));
    cut.destroy(new Error('connection reset'));
    await expect(saving).rejects.toThrow();
    await expect(save(job, 'lying', 'x')).resolves.toMatchObject({ saved: true });
    const wrong = Buffer.from('abc');
    await expect(
      caches.save(
        job.cred,
        job.jobId,
        { key: 'wrong', sha256: sha(Buffer.from('abd')), size: 3 },
        Readable.from([wrong]),
      ),
    ).rejects.toThrow(/SHA-256/);
    expect((await c.store.listCacheEntries()).map((e) => e.key)).toEqual(['lying']);
    expect((await readdir(join(c.dir, 'blobs', 'caches'))).length).toBe(1);
  });

  it('evicts the least recently used entries past the total, and their archives with them', async () => {
    const job = await running();
    await save(job, 'a', 'a'.repeat(1000));
    c.clock.advance(1);
    await save(job, 'b', 'b'.repeat(1000));
    c.clock.advance(1);
    await caches.lookup(job.cred, job.jobId, ['a']);
    c.clock.advance(1);
    expect(await save(job, 'c', 'c'.repeat(1000))).toEqual({ saved: true, evicted: 1 });
    expect((await c.store.listCacheEntries()).map((e) => e.key).sort()).toEqual(['a', 'c']);
    expect(await blobs.list('caches/')).toHaveLength(2);
  });
});
