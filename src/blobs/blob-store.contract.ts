import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../shared/ids.js';
import {
  BlobChecksumError,
  BlobCorruptError,
  BlobExistsError,
  type BlobStore,
  BlobTooLargeError,
  InvalidBlobKeyError,
} from './blob-store.js';

/** What a backend's test gives the contract: a fresh, empty store and a way to damage it. */
export interface BlobStoreFixture {
  store: BlobStore;
  /** Changes one byte of the stored content of `key` behind the store's back (disk damage). */
  corrupt(key: string): Promise<void>;
  /** Cuts the stored content of `key` short behind the store's back. */
  truncate(key: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** A stream of `chunks` chunks of 64 KiB, failing after them when `failAfter` is set. */
function chunked(chunks: Buffer[], failAfter = false): Readable {
  return Readable.from(
    (async function* () {
      for (const c of chunks) yield c;
      if (failAfter) throw new Error('the client went away');
    })(),
  );
}

/** The suite every BlobStore implementation passes: local disk now, S3-compatible later. */
export function blobStoreContract(name: string, makeFixture: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let f: BlobStoreFixture;
    let store: BlobStore;
    beforeEach(async () => {
      f = await makeFixture();
      store = f.store;
    });
    afterEach(() => f.cleanup());

    const read = async (key: string) => {
      const stream = await store.get(key);
      return stream ? buffer(stream) : undefined;
    };

    it('puts a stream and gets the same bytes back, with size and SHA-256', async () => {
      const chunks = Array.from({ length: 40 }, () => randomBytes(64 * 1024));
      const all = Buffer.concat(chunks);
      const info = await store.put('workspaces/big.tar.gz', chunked(chunks));
      expect(info).toEqual({ key: 'workspaces/big.tar.gz', size: all.length, sha256: sha256Hex(all) });
      expect(await store.stat('workspaces/big.tar.gz')).toEqual(info);
      expect((await read('workspaces/big.tar.gz'))?.equals(all)).toBe(true);
    });

    it('puts a Buffer and an empty blob', async () => {
      await store.put('a/one', Buffer.from('hello'));
      await store.put('a/empty', Buffer.alloc(0));
      expect((await read('a/one'))?.toString()).toBe('hello');
      expect((await read('a/empty'))?.length).toBe(0);
      expect((await store.stat('a/empty'))?.sha256).toBe(sha256Hex(''));
    });

    it('answers undefined for a blob that is not there', async () => {
      expect(await store.get('nothing/here')).toBeUndefined();
      expect(await store.stat('nothing/here')).toBeUndefined();
      expect(await store.delete('nothing/here')).toBe(false);
    });

    it('replaces by default; ifExists: fail refuses and keeps the first', async () => {
      await store.put('k', Buffer.from('first'));
      await store.put('k', Buffer.from('second'));
      expect((await read('k'))?.toString()).toBe('second');
      await expect(store.put('k', Buffer.from('third'), { ifExists: 'fail' })).rejects.toThrow(
        BlobExistsError,
      );
      expect((await read('k'))?.toString()).toBe('second');
    });

    it('of two racing puts with ifExists: fail exactly one wins', async () => {
      const results = await Promise.allSettled(
        ['x', 'y', 'z'].map((v) => store.put('race/k', chunked([Buffer.from(v)]), { ifExists: 'fail' })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      for (const r of rejected) expect(r.reason).toBeInstanceOf(BlobExistsError);
      expect(await store.list('race/')).toHaveLength(1);
    });

    it('a put whose stream fails midway leaves nothing, not half a blob, nor the old one damaged', async () => {
      const chunks = Array.from({ length: 8 }, () => randomBytes(64 * 1024));
      await expect(store.put('half/new', chunked(chunks, true))).rejects.toThrow('the client went away');
      expect(await store.stat('half/new')).toBeUndefined();
      expect(await store.list('')).toEqual([]);

      await store.put('half/old', Buffer.from('kept'));
      await expect(store.put('half/old', chunked(chunks, true))).rejects.toThrow('the client went away');
      expect((await read('half/old'))?.toString()).toBe('kept');
    });

    it('enforces maxBytes while streaming: a longer stream stores nothing', async () => {
      const chunks = Array.from({ length: 4 }, () => randomBytes(64 * 1024));
      await expect(store.put('big/one', chunked(chunks), { maxBytes: 100_000 })).rejects.toThrow(
        BlobTooLargeError,
      );
      expect(await store.stat('big/one')).toBeUndefined();
      const exact = await store.put('big/two', chunked(chunks), { maxBytes: 4 * 64 * 1024 });
      expect(exact.size).toBe(4 * 64 * 1024);
    });

    it('checks an expected SHA-256 (content-addressed keys): a mismatch stores nothing', async () => {
      const body = Buffer.from('tree');
      await expect(store.put('ws/a', body, { sha256: sha256Hex('other') })).rejects.toThrow(
        BlobChecksumError,
      );
      expect(await store.stat('ws/a')).toBeUndefined();
      expect((await store.put('ws/a', body, { sha256: sha256Hex(body) })).size).toBe(4);
    });

    it('a corrupted blob fails the read with BlobCorruptError, never returns the bytes whole', async () => {
      const chunks = Array.from({ length: 6 }, () => randomBytes(64 * 1024));
      await store.put('c/damaged', chunked(chunks));
      await f.corrupt('c/damaged');
      const stream = await store.get('c/damaged');
      expect(stream).toBeDefined();
      let received = 0;
      stream!.on('data', (d: Buffer) => (received += d.length));
      await expect(buffer(stream!)).rejects.toThrow(BlobCorruptError);
      await expect(read('c/damaged')).rejects.toThrow(/blob c\/damaged is corrupt: its content has SHA-256/);
      expect(received).toBeLessThan(6 * 64 * 1024);
    });

    it('a truncated blob is refused at once', async () => {
      await store.put('c/short', Buffer.from('a complete sentence'));
      await f.truncate('c/short');
      await expect(store.get('c/short')).rejects.toThrow(BlobCorruptError);
      await expect(store.stat('c/short')).rejects.toThrow(/blob c\/short is corrupt/);
    });

    it.each([
      '../escape',
      'a/../../escape',
      '/etc/passwd',
      'a//b',
      'a/',
      '',
      '.hidden',
      'a/./b',
      'a\\..\\b',
      'a/b c',
      `${'x'.repeat(300)}`,
    ])('refuses the key %j for every operation (no path traversal)', async (key) => {
      await expect(store.put(key, Buffer.from('x'))).rejects.toThrow(InvalidBlobKeyError);
      await expect(store.get(key)).rejects.toThrow(InvalidBlobKeyError);
      await expect(store.stat(key)).rejects.toThrow(InvalidBlobKeyError);
      await expect(store.delete(key)).rejects.toThrow(InvalidBlobKeyError);
      expect(await store.list('')).toEqual([]);
    });

    it('refuses a listing prefix that climbs out', async () => {
      await expect(store.list('../')).rejects.toThrow(InvalidBlobKeyError);
      await expect(store.list('a/../../')).rejects.toThrow(InvalidBlobKeyError);
    });

    it('lists by prefix, sorted, and deletes', async () => {
      await store.put('artifacts/r1/b.tar.gz', Buffer.from('bb'));
      await store.put('artifacts/r1/a.tar.gz', Buffer.from('a'));
      await store.put('artifacts/r1/deep/c.tar.gz', Buffer.from('ccc'));
      await store.put('artifacts/r10/x.tar.gz', Buffer.from('x'));
      await store.put('workspaces/w.tar.gz', Buffer.from('w'));
      expect((await store.list('artifacts/r1/')).map((b) => [b.key, b.size])).toEqual([
        ['artifacts/r1/a.tar.gz', 1],
        ['artifacts/r1/b.tar.gz', 2],
        ['artifacts/r1/deep/c.tar.gz', 3],
      ]);
      expect((await store.list('artifacts/r1')).map((b) => b.key)).toContain('artifacts/r10/x.tar.gz');
      expect(await store.list('nothing/')).toEqual([]);
      expect(await store.delete('artifacts/r1/a.tar.gz')).toBe(true);
      expect(await store.get('artifacts/r1/a.tar.gz')).toBeUndefined();
      expect((await store.list('')).length).toBe(4);
    });
  });
}
