import { PassThrough, type Readable } from 'node:stream';
import type { z } from 'zod';
import { BlobCorruptError, type BlobStore } from '../../blobs/index.js';
import type { cacheEntryView } from '../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import type { CacheEntryRow, Store } from '../../store/index.js';
import { type CacheScopes, cacheScopes } from '../cache-scope.js';
import { type JobCredential, leasedJob } from './jobs.js';

const GiB = 1024 * 1024 * 1024;
/** Largest entry kept, by default. */
export const DEFAULT_CACHE_MAX_ENTRY_BYTES = 2 * GiB;
/** Total size of all entries past which the least recently used are evicted, by default. */
export const DEFAULT_CACHE_MAX_TOTAL_BYTES = 20 * GiB;
/** Where cache archives live in the blob store, named by their SHA-256. */
export const CACHE_PREFIX = 'caches/';

export type CacheEntryView = z.infer<typeof cacheEntryView>;

export interface CacheServiceOptions {
  store: Store;
  blobs: BlobStore;
  clock: Clock;
  logger: Logger;
  /** Largest archive one entry may have. Default 2 GiB. */
  maxEntryBytes?: number;
  /** Total size past which the least recently used entries are evicted. Default 20 GiB. */
  maxTotalBytes?: number;
}

/**
 * Caches that survive ephemeral agents. Only the running attempt of a job (its lease) reads
 * and writes, and only in its run's scopes (`cacheScopes`): entries of its own branch and of
 * the default branch are read, its own branch's are written, and what an untrusted run writes
 * no trusted run ever reads. Archives are blobs named by their checksum; a row per entry makes
 * one visible, so an upload that fails or is cut off leaves nothing anybody can restore.
 */
export class CacheService {
  readonly maxEntryBytes: number;
  readonly maxTotalBytes: number;

  constructor(private readonly o: CacheServiceOptions) {
    this.maxEntryBytes = o.maxEntryBytes ?? DEFAULT_CACHE_MAX_ENTRY_BYTES;
    this.maxTotalBytes = o.maxTotalBytes ?? DEFAULT_CACHE_MAX_TOTAL_BYTES;
  }

  /**
   * The entry to restore: the first key exactly (own scope first, then the others it reads),
   * else each further key as a prefix, newest entry first; null on a miss.
   */
  async lookup(cred: JobCredential, jobId: string, keys: string[]): Promise<CacheEntryView | null> {
    const { read } = await this.scopesOf(cred, jobId);
    const { store } = this.o;
    const [first, ...rest] = keys;
    let found: CacheEntryRow | undefined;
    let exact = false;
    if (first !== undefined) {
      for (const scope of read) {
        found = await store.findCacheEntry(scope, first);
        if (found) break;
      }
      exact = found !== undefined;
    }
    for (const prefix of exact ? [] : rest) {
      for (const scope of read) {
        found = await store.findCacheEntryByPrefix(scope, prefix);
        if (found) break;
      }
      if (found) break;
    }
    if (!found) return null;
    await store.touchCacheEntry(found.id, this.o.clock.now());
    return { id: found.id, key: found.key, size: found.size, sha256: found.sha256, exact };
  }

  /**
   * An entry's archive, for a job whose run may read its scope. A blob found damaged while it
   * is read fails the stream and takes the entry with it, so the next save replaces it.
   */
  async open(cred: JobCredential, jobId: string, entryId: string): Promise<Readable> {
    const { read } = await this.scopesOf(cred, jobId);
    const entry = await this.o.store.getCacheEntry(entryId);
    if (!entry) throw new NotFoundError('cache entry', entryId);
    if (!read.includes(entry.scope)) throw new ForbiddenError("this job's run may not read that cache entry");
    const blob = await this.o.blobs.get(cacheBlobKey(entry.sha256));
    if (!blob) {
      // Its archive was evicted with another entry's (they share it) while this one was saved.
      await this.o.store.deleteCacheEntry(entry.id);
      throw new NotFoundError('cache entry', entryId);
    }
    const out = new PassThrough();
    blob.on('error', (error) => {
      if (error instanceof BlobCorruptError) void this.drop(entry, error.message);
      out.destroy(error);
    });
    out.on('close', () => blob.destroy());
    blob.pipe(out);
    return out;
  }

  /** Refuses an entry larger than the limit before anything is sent; says whether the key exists. */
  async reserve(cred: JobCredential, jobId: string, key: string, size: number): Promise<{ exists: boolean }> {
    const { write } = await this.scopesOf(cred, jobId);
    this.checkSize(size);
    return { exists: (await this.o.store.findCacheEntry(write, key)) !== undefined };
  }

  /**
   * Keeps the archive streamed in as `key` in the job's own scope, once its checksum and size are
   * those declared; then evicts the least recently used entries past the total limit. An entry
   * already saved under the key is kept (entries are immutable, as in Azure): `saved` is false.
   */
  async save(
    cred: JobCredential,
    jobId: string,
    q: { key: string; sha256: string; size: number },
    body: Readable,
  ): Promise<{ saved: boolean; evicted: number }> {
    // Heard at once: an upload cut off while the job is looked up must fail this save, not the process.
    body.on('error', () => undefined);
    const { write } = await this.scopesOf(cred, jobId);
    this.checkSize(q.size);
    const { store, blobs, clock } = this.o;
    if (await store.findCacheEntry(write, q.key)) {
      body.resume();
      return { saved: false, evicted: 0 };
    }
    const blobKey = cacheBlobKey(q.sha256);
    const stored = await blobs.put(blobKey, body, { sha256: q.sha256, maxBytes: q.size });
    if (stored.size !== q.size) {
      await this.dropBlobIfUnused(q.sha256);
      throw new ValidationError(`the cache archive has ${stored.size} bytes, not the ${q.size} declared`);
    }
    const now = clock.now();
    const entry: CacheEntryRow = {
      id: newId('cache_'),
      scope: write,
      key: q.key,
      size: q.size,
      sha256: q.sha256,
      createdAt: now,
      lastUsedAt: now,
    };
    const saved = await store.insertCacheEntry(entry);
    if (!saved) await this.dropBlobIfUnused(q.sha256);
    const evicted = await this.evict(saved ? entry.id : undefined);
    this.o.logger.info({ scope: write, key: q.key, size: q.size, saved, evicted }, 'cache entry saved');
    return { saved, evicted };
  }

  /** Removes least recently used entries until the total is within the limit; `keep` stays. */
  async evict(keep?: string): Promise<number> {
    const { store } = this.o;
    let { bytes } = await store.cacheUsage();
    if (bytes <= this.maxTotalBytes) return 0;
    let evicted = 0;
    for (const entry of await store.listCacheEntries()) {
      if (bytes <= this.maxTotalBytes) break;
      if (entry.id === keep) continue;
      if (!(await store.deleteCacheEntry(entry.id))) continue;
      bytes -= entry.size;
      evicted++;
      await this.dropBlobIfUnused(entry.sha256);
      this.o.logger.info({ scope: entry.scope, key: entry.key, size: entry.size }, 'cache entry evicted');
    }
    return evicted;
  }

  private checkSize(size: number): void {
    if (size > this.maxEntryBytes) {
      throw new ValidationError(
        `the cache entry is ${formatGiB(size)}, larger than this server's limit of ${formatGiB(this.maxEntryBytes)} per entry (slipway server --cache-max-entry-gib)`,
      );
    }
  }

  private async drop(entry: CacheEntryRow, why: string): Promise<void> {
    this.o.logger.error({ scope: entry.scope, key: entry.key, why }, 'cache entry is damaged; removed');
    await this.o.store.deleteCacheEntry(entry.id);
    await this.dropBlobIfUnused(entry.sha256);
  }

  private async dropBlobIfUnused(sha256: string): Promise<void> {
    if ((await this.o.store.countCacheEntriesWithSha(sha256)) === 0)
      await this.o.blobs.delete(cacheBlobKey(sha256));
  }

  private async scopesOf(cred: JobCredential, jobId: string): Promise<CacheScopes> {
    const job = await leasedJob(this.o.store, cred, jobId);
    const run = await this.o.store.getRun(job.runId);
    if (!run) throw new NotFoundError('run', job.runId);
    return cacheScopes(run);
  }
}

export function cacheBlobKey(sha256: string): string {
  if (!/^[a-f0-9]{64}$/.test(sha256)) throw new ValidationError('bad cache archive checksum');
  return `${CACHE_PREFIX}${sha256}.tar`;
}

function formatGiB(bytes: number): string {
  const gib = bytes / GiB;
  return gib >= 1 ? `${Number(gib.toFixed(2))} GiB` : `${Number((bytes / 1024 / 1024).toFixed(1))} MiB`;
}
