import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, open, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blobStoreContract } from './blob-store.contract.js';
import { LocalDiskBlobStore } from './local-disk-blob-store.js';

blobStoreContract('local disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-blobs-'));
  const root = join(dir, 'blobs');
  return {
    store: new LocalDiskBlobStore({ root }),
    async corrupt(key) {
      const fh = await open(join(root, key), 'r+');
      const { size } = await fh.stat();
      const at = Math.floor(size / 2);
      const byte = Buffer.alloc(1);
      await fh.read(byte, 0, 1, at);
      byte[0] = byte[0]! ^ 0xff;
      await fh.write(byte, 0, 1, at);
      await fh.close();
    },
    async truncate(key) {
      const { size } = await stat(join(root, key));
      await truncate(join(root, key), size - 3);
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('LocalDiskBlobStore on disk', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-blobs-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps blobs private: folders 0700, files 0600', async () => {
    const store = new LocalDiskBlobStore({ root: join(dir, 'blobs') });
    await store.put('artifacts/r1/a.tar.gz', Buffer.from('a'));
    expect((await stat(join(dir, 'blobs'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'blobs', 'artifacts', 'r1'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'blobs', 'artifacts', 'r1', 'a.tar.gz'))).mode & 0o777).toBe(0o600);
  });

  it('writes nothing outside its folder for a traversal key', async () => {
    const store = new LocalDiskBlobStore({ root: join(dir, 'blobs') });
    await expect(store.put('../outside', Buffer.from('x'))).rejects.toThrow(/not valid/);
    await expect(store.put('a/../../outside', Buffer.from('x'))).rejects.toThrow(/not valid/);
    expect(existsSync(join(dir, 'outside'))).toBe(false);
  });

  it('a temporary file left by a crash is removed at the next start and never listed', async () => {
    const root = join(dir, 'blobs');
    mkdirSync(join(root, '.tmp'), { recursive: true });
    await writeFile(join(root, '.tmp', 'half-written'), 'partial');
    const store = new LocalDiskBlobStore({ root });
    expect(await store.list('')).toEqual([]);
    await store.put('k', Buffer.from('whole'));
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
    expect((await store.list('')).map((b) => b.key)).toEqual(['k']);
  });

  it('a file that is not a blob (no header) is refused as corrupt, not served', async () => {
    const root = join(dir, 'blobs');
    mkdirSync(join(root, 'workspaces'), { recursive: true });
    await writeFile(join(root, 'workspaces', 'raw.tar.gz'), 'raw bytes');
    const store = new LocalDiskBlobStore({ root });
    await expect(store.get('workspaces/raw.tar.gz')).rejects.toThrow(/header is missing or damaged/);
  });
});
