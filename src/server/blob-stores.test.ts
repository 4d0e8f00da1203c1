import { mkdirSync } from 'node:fs';
import { mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobCorruptError, LocalDiskBlobStore } from '../blobs/index.js';
import { sha256Hex } from '../shared/ids.js';
import { silentLogger } from '../shared/logger.js';
import { ArtifactStore } from './artifact-store.js';
import { adoptLegacyBlobs } from './legacy-blobs.js';
import { WorkspaceStore } from './workspace-store.js';

let dir: string;
let blobs: LocalDiskBlobStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-blob-stores-'));
  blobs = new LocalDiskBlobStore({ root: join(dir, 'blobs') });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** Flips one byte of a blob's content on disk. */
async function damage(key: string): Promise<void> {
  const fh = await open(join(dir, 'blobs', key), 'r+');
  const { size } = await fh.stat();
  await fh.write(Buffer.from([0x00]), 0, 1, size - 1);
  await fh.write(Buffer.from([0xff]), 0, 1, size - 2);
  await fh.close();
}

describe('WorkspaceStore over a blob store', () => {
  it('names an archive by its SHA-256, stores the same tree once, and reads it back', async () => {
    const workspaces = new WorkspaceStore(blobs);
    const archive = Buffer.from('a gzip archive, say');
    const first = await workspaces.put(archive);
    expect(first).toEqual({ id: sha256Hex(archive), size: archive.length });
    expect(await workspaces.put(archive)).toEqual(first);
    expect((await buffer(workspaces.open(first.id))).equals(archive)).toBe(true);
    expect((await blobs.list('')).map((b) => b.key)).toEqual([`workspaces/${first.id}.tar.gz`]);
  });

  it('a damaged workspace fails its stream, naming the blob, instead of serving other bytes', async () => {
    const workspaces = new WorkspaceStore(blobs);
    const { id } = await workspaces.put(Buffer.alloc(200_000, 7));
    await damage(`workspaces/${id}.tar.gz`);
    await expect(buffer(workspaces.open(id))).rejects.toThrow(BlobCorruptError);
  });

  it('a missing workspace fails its stream as not found; a bad id throws at once', async () => {
    const workspaces = new WorkspaceStore(blobs);
    await expect(buffer(workspaces.open('a'.repeat(64)))).rejects.toThrow(/workspace a+ not found/);
    expect(() => workspaces.open('../../etc/passwd')).toThrow('bad workspace id');
  });
});

describe('ArtifactStore over a blob store', () => {
  it('publishes once per name and run, lists by name with sizes, opens', async () => {
    const artifacts = new ArtifactStore(blobs);
    expect(await artifacts.put('run1', 'b', Buffer.from('bb'))).toEqual({ name: 'b', size: 2 });
    await artifacts.put('run1', 'a.b', Buffer.from('a'));
    await artifacts.put('run1', 'a', Buffer.from('aaa'));
    await artifacts.put('run10', 'x', Buffer.from('x'));
    await expect(artifacts.put('run1', 'b', Buffer.from('again'))).rejects.toThrow(
      "artifact 'b' was published in this run already",
    );
    // The order of `<name>.tar.gz` file names, as before.
    expect(await artifacts.list('run1')).toEqual([
      { name: 'a.b', size: 1 },
      { name: 'a', size: 3 },
      { name: 'b', size: 2 },
    ]);
    expect(await artifacts.list('nothing')).toEqual([]);
    expect((await buffer((await artifacts.open('run1', 'b'))!)).toString()).toBe('bb');
    expect(await artifacts.open('run1', 'missing')).toBeUndefined();
  });

  it('refuses names and run ids that would leave the run folder', async () => {
    const artifacts = new ArtifactStore(blobs);
    await expect(artifacts.put('run1', '../x', Buffer.from('x'))).rejects.toThrow(
      "artifact name '../x' is not valid",
    );
    await expect(artifacts.put('..', 'x', Buffer.from('x'))).rejects.toThrow('bad run id');
    await expect(artifacts.open('run1', '.hidden')).rejects.toThrow('is not valid');
    await expect(artifacts.list('../r')).rejects.toThrow('bad run id');
  });
});

describe('adoptLegacyBlobs: a data directory from before the blob store', () => {
  const archive = Buffer.from('an old workspace');
  const id = sha256Hex(archive);

  beforeEach(async () => {
    mkdirSync(join(dir, 'workspaces'), { recursive: true });
    await writeFile(join(dir, 'workspaces', `${id}.tar.gz`), archive);
    await writeFile(join(dir, 'workspaces', '.crashed.tmp'), 'half');
    const damaged = sha256Hex('what it was');
    await writeFile(join(dir, 'workspaces', `${damaged}.tar.gz`), 'what it became');
    mkdirSync(join(dir, 'artifacts', 'run_1'), { recursive: true });
    await writeFile(join(dir, 'artifacts', 'run_1', 'build.report.tar.gz'), 'report');
    await writeFile(join(dir, 'artifacts', 'run_1', 'bin.tar.gz'), 'binary');
  });

  it('moves workspaces and artifacts in, so runs queued before an upgrade still find them', async () => {
    expect(await adoptLegacyBlobs(dir, blobs, silentLogger)).toEqual({ workspaces: 1, artifacts: 2 });
    const workspaces = new WorkspaceStore(blobs);
    const artifacts = new ArtifactStore(blobs);
    expect((await buffer(workspaces.open(id))).equals(archive)).toBe(true);
    expect(await artifacts.list('run_1')).toEqual([
      { name: 'bin', size: 6 },
      { name: 'build.report', size: 6 },
    ]);
    expect((await buffer((await artifacts.open('run_1', 'bin'))!)).toString()).toBe('binary');
    // The old folders are gone but for the damaged workspace, which is not adopted under its name.
    expect(await readdir(join(dir, 'workspaces'))).toEqual([`${sha256Hex('what it was')}.tar.gz`]);
    expect((await readdir(dir)).sort()).toEqual(['blobs', 'workspaces']);
    // A second start has nothing to do.
    expect(await adoptLegacyBlobs(dir, blobs, silentLogger)).toEqual({ workspaces: 0, artifacts: 0 });
  });
});
