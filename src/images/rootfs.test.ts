import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RootfsPlan, worldUsable } from './rootfs.js';

interface Listed {
  path: string;
  type: string;
  mode: number;
  uid: number;
  linkpath?: string;
  content: string;
}

async function list(plan: RootfsPlan): Promise<Map<string, Listed>> {
  const listed = new Map<string, Listed>();
  const parser = new Parser({
    onReadEntry: (entry: ReadEntry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () =>
        listed.set(entry.path.replace(/\/$/, ''), {
          path: entry.path,
          type: entry.type,
          mode: entry.mode ?? -1,
          uid: entry.uid ?? -1,
          ...(entry.linkpath ? { linkpath: entry.linkpath } : {}),
          content: Buffer.concat(chunks).toString(),
        }),
      );
    },
  });
  await new Promise<void>((resolve, reject) => {
    plan.tar().on('error', reject).pipe(parser).on('end', resolve).on('error', reject);
  });
  return listed;
}

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-rootfs-'));
  await writeFile(join(dir, 'tool'), '#!/bin/sh\necho tool\n', { mode: 0o700 });
  await writeFile(join(dir, 'data'), 'data', { mode: 0o600 });
  await symlink('tool', join(dir, 'tool-link'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('RootfsPlan', () => {
  it('makes files usable by any user', () => {
    expect(worldUsable(0o700)).toBe(0o755);
    expect(worldUsable(0o600)).toBe(0o644);
    expect(worldUsable(0o4755)).toBe(0o755);
  });

  it('maps /bin, /lib and friends onto /usr', () => {
    const plan = new RootfsPlan();
    expect(plan.normalize('/bin/sh')).toBe('usr/bin/sh');
    expect(plan.normalize('/lib64/ld-linux-x86-64.so.2')).toBe('usr/lib64/ld-linux-x86-64.so.2');
    expect(plan.normalize('/etc/passwd')).toBe('etc/passwd');
    expect(new RootfsPlan({ usrMerge: false }).normalize('/bin/sh')).toBe('bin/sh');
    expect(() => plan.normalize('/')).toThrow('not a path inside the image');
  });

  it('streams a tar with parents first, root ownership, hard links and long paths', async () => {
    const plan = new RootfsPlan();
    const long = `/opt/${'deep/'.repeat(40)}file`;
    await plan.file('/usr/bin/tool', join(dir, 'tool-link'));
    await plan.file('/opt/tool-again', join(dir, 'tool'));
    await plan.file(long, join(dir, 'data'));
    plan.dir('/tmp', { mode: 0o1777 });
    plan.dir('/home/slipway', { uid: 1000, gid: 1000 });
    plan.content('/etc/passwd', 'root:x:0:0::/root:/bin/sh\n');
    const listed = await list(plan);

    expect(listed.get('bin')).toMatchObject({ type: 'SymbolicLink', linkpath: 'usr/bin' });
    // The same source twice: the first in tar order carries the content, the other links to it.
    expect(listed.get('opt/tool-again')).toMatchObject({
      type: 'File',
      mode: 0o755,
      uid: 0,
      content: '#!/bin/sh\necho tool\n',
    });
    expect(listed.get('usr/bin/tool')).toMatchObject({ type: 'Link', linkpath: 'opt/tool-again' });
    expect(listed.get(long.slice(1))).toMatchObject({ type: 'File', mode: 0o644, content: 'data' });
    expect(listed.get('tmp')).toMatchObject({ type: 'Directory', mode: 0o1777 });
    expect(listed.get('home/slipway')).toMatchObject({ type: 'Directory', uid: 1000 });
    expect(listed.get('home')).toMatchObject({ type: 'Directory', mode: 0o755, uid: 0 });
    const order = [...listed.keys()];
    expect(order.indexOf('opt')).toBeLessThan(order.indexOf('opt/deep'));
  });

  it('replaces an earlier entry instead of writing through it', async () => {
    const plan = new RootfsPlan();
    plan.symlink('/bin/tool', '/usr/bin/busybox');
    await plan.file('/usr/bin/tool', join(dir, 'tool'));
    expect((await list(plan)).get('usr/bin/tool')).toMatchObject({ type: 'File' });
  });

  it('hashes what goes in: content for hashContent files, size and mtime for the rest', async () => {
    const path = join(dir, 'bundle.mjs');
    await writeFile(path, 'one');
    const hashOf = async (hashContent: boolean) =>
      (await new RootfsPlan().file('/b.mjs', path, { hashContent })).hash({ recipe: 1 });
    const byContent = await hashOf(true);
    const byStat = await hashOf(false);
    await utimes(path, new Date('2030-01-01'), new Date('2030-01-01'));
    expect(await hashOf(true)).toBe(byContent);
    expect(await hashOf(false)).not.toBe(byStat);
    await writeFile(path, 'two');
    expect(await hashOf(true)).not.toBe(byContent);
    expect((await new RootfsPlan().file('/b.mjs', path)).hash({ recipe: 2 })).not.toBe(await hashOf(false));
  });

  it('hashes contents, not where they come from: two checkouts with the same bundle share an image', async () => {
    const hashFrom = async (checkout: string) => {
      await mkdir(join(dir, checkout, 'dist'), { recursive: true });
      const bundle = join(dir, checkout, 'dist', 'agent.mjs');
      await writeFile(bundle, 'the same bundle');
      const plan = await new RootfsPlan().file('/opt/agent.mjs', bundle, { hashContent: true });
      await plan.file('/opt/agent-link.mjs', bundle, { hashContent: true });
      return plan.hash({ recipe: 1 });
    };
    expect(await hashFrom('checkout-a')).toBe(await hashFrom('checkout-b'));
    // Hard links are part of the layout: the same files, unlinked, are another image.
    const unlinked = new RootfsPlan();
    await writeFile(join(dir, 'copy-1'), 'the same bundle');
    await writeFile(join(dir, 'copy-2'), 'the same bundle');
    await unlinked.file('/opt/agent.mjs', join(dir, 'copy-1'), { hashContent: true });
    await unlinked.file('/opt/agent-link.mjs', join(dir, 'copy-2'), { hashContent: true });
    expect(unlinked.hash({ recipe: 1 })).not.toBe(await hashFrom('checkout-a'));
  });
});
