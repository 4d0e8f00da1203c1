import { execFileSync } from 'node:child_process';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { extractWorkspace, listWorkspaceFiles, packWorkspace } from './workspace-archive.js';

const temps: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-ws-'));
  temps.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(temps.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function put(root: string, file: string, content = file): Promise<void> {
  await mkdir(path.dirname(path.join(root, file)), { recursive: true });
  await writeFile(path.join(root, file), content);
}

/** Every path under `root`, directories marked with a trailing slash. */
async function tree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .map((e) => {
      const rel = path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/');
      return e.isDirectory() ? `${rel}/` : rel;
    })
    .sort();
}

function git(cwd: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'init.defaultBranch=main', ...args], { cwd, stdio: 'ignore' });
}

interface RawEntry {
  path: string;
  type?: 'file' | 'hardlink' | 'symlink' | 'chardev' | 'dir' | 'fifo';
  body?: string;
  linkpath?: string;
  mode?: number;
}

const TYPE_FLAGS = { file: '0', hardlink: '1', symlink: '2', chardev: '3', dir: '5', fifo: '6' } as const;

/** A ustar archive written byte by byte, so nothing between us and the extractor cleans paths. */
function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '');
    const header = Buffer.alloc(512);
    const field = (offset: number, length: number, value: string) =>
      header.write(value, offset, length, 'utf8');
    const octal = (offset: number, length: number, value: number) =>
      field(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
    field(0, 100, entry.path);
    octal(100, 8, entry.mode ?? 0o644);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, body.length);
    octal(136, 12, 1_700_000_000);
    field(148, 8, '        ');
    field(156, 1, TYPE_FLAGS[entry.type ?? 'file']);
    field(157, 100, entry.linkpath ?? '');
    field(257, 6, 'ustar\0');
    field(263, 2, '00');
    let sum = 0;
    for (const byte of header) sum += byte;
    field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

describe('listWorkspaceFiles', () => {
  it('outside git, lists every file except under .git, node_modules and .slipway', async () => {
    const root = await tempDir();
    for (const file of [
      'a.txt',
      'src/b.ts',
      'src/deep/c.ts',
      '.env',
      'vendor/lib/.git/HEAD',
      'node_modules/x.js',
    ]) {
      await put(root, file);
    }
    await put(root, 'src/node_modules/y.js');
    await put(root, '.slipway/admin.token');
    await symlink('src', path.join(root, 'src-link'));
    await put(root, '.git/config');
    expect(await listWorkspaceFiles(root)).toEqual([
      '.env',
      'a.txt',
      'src-link',
      'src/b.ts',
      'src/deep/c.ts',
    ]);
  });

  it('inside git, lists tracked and untracked files that .gitignore does not ignore', async () => {
    const root = await tempDir();
    git(root, 'init', '-q');
    await put(root, '.gitignore', 'ignored.txt\nbuild/\n');
    await put(root, 'tracked.txt');
    await put(root, 'gone.txt');
    await put(root, 'sub/tracked.ts');
    git(root, 'add', '.');
    await rm(path.join(root, 'gone.txt'));
    await put(root, 'untracked.txt');
    await put(root, 'ignored.txt');
    await put(root, 'build/out.js');
    // Not in .gitignore, and still never uploaded: it holds the local admin token.
    await put(root, '.slipway/admin.token');
    await symlink('tracked.txt', path.join(root, 'alias.txt'));

    expect(await listWorkspaceFiles(root)).toEqual([
      '.gitignore',
      'alias.txt',
      'sub/tracked.ts',
      'tracked.txt',
      'untracked.txt',
    ]);
    expect(await listWorkspaceFiles(path.join(root, 'sub'))).toEqual(['tracked.ts']);
  });
});

describe('packWorkspace and extractWorkspace', () => {
  it('round-trips files, nested directories, modes and symlinks', async () => {
    const src = await tempDir();
    await put(src, 'README.md', '# hi\n');
    await put(src, 'scripts/build.sh', '#!/bin/sh\necho built\n');
    await chmod(path.join(src, 'scripts/build.sh'), 0o755);
    await put(src, 'a/b/c/deep.txt', 'deep');
    await put(src, '@at-sign.txt', 'not an archive');
    await symlink('../README.md', path.join(src, 'a/readme-link'));

    const archive = await packWorkspace(src);
    const dest = path.join(await tempDir(), 'workspace');
    const result = await extractWorkspace(archive, dest);

    expect(result).toEqual({ files: 5, bytes: 5 + 21 + 4 + 14 });
    expect(await tree(dest)).toEqual([
      '@at-sign.txt',
      'README.md',
      'a/',
      'a/b/',
      'a/b/c/',
      'a/b/c/deep.txt',
      'a/readme-link',
      'scripts/',
      'scripts/build.sh',
    ]);
    expect(await readFile(path.join(dest, 'a/b/c/deep.txt'), 'utf8')).toBe('deep');
    expect((await lstat(path.join(dest, 'scripts/build.sh'))).mode & 0o111).not.toBe(0);
    expect((await lstat(path.join(dest, 'README.md'))).mode & 0o111).toBe(0);
    expect(await readlink(path.join(dest, 'a/readme-link'))).toBe('../README.md');
    expect(await readFile(path.join(dest, 'a/readme-link'), 'utf8')).toBe('# hi\n');
    expect(execFileSync(path.join(dest, 'scripts/build.sh'), { encoding: 'utf8' })).toBe('built\n');
  });

  it('round-trips a large, highly compressible file', async () => {
    const src = await tempDir();
    await writeFile(path.join(src, 'zeros.bin'), Buffer.alloc(16 * 1024 * 1024));
    const dest = await tempDir();
    expect(await extractWorkspace(await packWorkspace(src), dest)).toEqual({
      files: 1,
      bytes: 16 * 1024 * 1024,
    });
  });

  it('refuses a missing workspace directory', async () => {
    const missing = path.join(await tempDir(), 'nope');
    await expect(listWorkspaceFiles(missing)).rejects.toThrow(/does not exist/);
  });

  it('extracts from a stream', async () => {
    const src = await tempDir();
    await put(src, 'x.txt', 'x');
    const dest = await tempDir();
    const result = await extractWorkspace(Readable.from([await packWorkspace(src)]), dest);
    expect(result).toEqual({ files: 1, bytes: 1 });
    expect(await readFile(path.join(dest, 'x.txt'), 'utf8')).toBe('x');
  });

  it('round-trips an empty workspace', async () => {
    const dest = await tempDir();
    expect(await extractWorkspace(await packWorkspace(await tempDir()), dest)).toEqual({
      files: 0,
      bytes: 0,
    });
    expect(await readdir(dest)).toEqual([]);
  });

  it('refuses to pack a workspace over the size limit, naming the limit', async () => {
    const src = await tempDir();
    await put(src, 'big.bin', 'x'.repeat(2000));
    await expect(packWorkspace(src, { maxBytes: 1000 })).rejects.toThrow(ValidationError);
    await expect(packWorkspace(src, { maxBytes: 1000 })).rejects.toThrow('limit of 1000 bytes');
    await expect(packWorkspace(src, { maxBytes: 1024 * 1024 })).resolves.toBeInstanceOf(Buffer);
  });
});

describe('extractWorkspace refuses hostile archives', () => {
  /** A destination with a sibling directory, so writes that escape it can be seen. */
  async function setup(): Promise<{ dest: string; outside: string }> {
    const base = await tempDir();
    const outside = path.join(base, 'outside');
    await mkdir(outside);
    return { dest: path.join(base, 'dest'), outside };
  }

  async function expectRejected(entries: RawEntry[], message: string | RegExp, maxBytes?: number) {
    const { dest, outside } = await setup();
    const archive = rawTar(entries);
    const error = await extractWorkspace(archive, dest, maxBytes === undefined ? {} : { maxBytes }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(message);
    expect(await readdir(outside)).toEqual([]);
    expect(await readdir(path.dirname(dest))).toEqual(expect.not.arrayContaining(['evil']));
    return dest;
  }

  it('a path with a .. segment', async () => {
    await expectRejected([{ path: '../evil', body: 'x' }], /entry "\.\.\/evil" has a '\.\.' path segment/);
    await expectRejected([{ path: 'a/../../outside/evil', body: 'x' }], /'\.\.' path segment/);
    const dest = path.join(await tempDir(), 'dest');
    const stream = Readable.from([rawTar([{ path: '../evil', body: 'x' }])]);
    await expect(extractWorkspace(stream, dest)).rejects.toThrow(/'\.\.' path segment/);
  });

  it('an absolute path', async () => {
    const dest = await expectRejected(
      [{ path: '/abs/evil', body: 'x' }],
      /entry "\/abs\/evil" has an absolute path/,
    );
    await expect(lstat(path.join(dest, 'abs'))).rejects.toThrow();
    await expect(lstat('/abs/evil')).rejects.toThrow();
  });

  it('a symlink out of the workspace followed by a file through it', async () => {
    const dest = await expectRejected(
      [
        { path: 'link', type: 'symlink', linkpath: '/etc' },
        { path: 'link/x', body: 'pwned' },
      ],
      /entry "link" is a symlink to "\/etc", outside the workspace/,
    );
    await expect(lstat(path.join(dest, 'link'))).rejects.toThrow();
    await expect(lstat('/etc/x')).rejects.toThrow();
  });

  it('a relative symlink out of the workspace followed by a file through it', async () => {
    await expectRejected(
      [
        { path: 'sub/link', type: 'symlink', linkpath: '../../outside' },
        { path: 'sub/link/evil', body: 'pwned' },
      ],
      /entry "sub\/link" is a symlink to "\.\.\/\.\.\/outside", outside the workspace/,
    );
  });

  it('a chain of symlinks that only escapes when followed', async () => {
    await expectRejected(
      [
        { path: 'here', type: 'symlink', linkpath: '.' },
        { path: 'up', type: 'symlink', linkpath: 'here/..' },
        { path: 'up/outside/evil', body: 'pwned' },
      ],
      /entry "up" is a symlink to "here\/\.\.", outside the workspace/,
    );
  });

  it('a chain that escapes only once a later symlink exists', async () => {
    await expectRejected(
      [
        { path: 'up', type: 'symlink', linkpath: 'here/..' },
        { path: 'here', type: 'symlink', linkpath: '.' },
      ],
      /entry "up" is a symlink to "here\/\.\.", outside the workspace/,
    );
  });

  it('a symlink that replaces a directory or file', async () => {
    await expectRejected(
      [
        { path: 'd/f', body: 'x' },
        { path: 'd', type: 'symlink', linkpath: '.' },
      ],
      /entry "d" replaces an entry earlier in the archive/,
    );
    await expectRejected(
      [
        { path: 'l', type: 'symlink', linkpath: '.' },
        { path: 'l', body: 'x' },
      ],
      /entry "l" replaces a symlink/,
    );
  });

  it('a file written through a symlink that stays inside', async () => {
    await expectRejected(
      [
        { path: 'real/', type: 'dir', mode: 0o755 },
        { path: 'alias', type: 'symlink', linkpath: 'real' },
        { path: 'alias/x', body: 'x' },
      ],
      /entry "alias\/x" is under the symlink "alias"/,
    );
  });

  it('hardlinks to files outside', async () => {
    await expectRejected(
      [{ path: 'h', type: 'hardlink', linkpath: '/etc/passwd' }],
      /hardlink to "\/etc\/passwd"/,
    );
    await expectRejected(
      [{ path: 'h', type: 'hardlink', linkpath: '../outside/secret' }],
      /hardlink to "\.\.\/outside\/secret"/,
    );
  });

  it('device and fifo entries', async () => {
    await expectRejected([{ path: 'null', type: 'chardev' }], /entry "null" is a CharacterDevice entry/);
    await expectRejected([{ path: 'pipe', type: 'fifo' }], /entry "pipe" is a FIFO entry/);
  });

  it('an archive over the size limit', async () => {
    await expectRejected(
      [
        { path: 'small', body: 'x'.repeat(500) },
        { path: 'big', body: 'x'.repeat(2000) },
      ],
      /workspace archive is larger than the limit of 1000 bytes \(at entry "big"\)/,
      1000,
    );
  });

  it('garbage', async () => {
    const dest = path.join(await tempDir(), 'dest');
    await expect(extractWorkspace(Buffer.from('not a tarball at all'), dest)).rejects.toThrow(
      ValidationError,
    );
  });

  it('but accepts symlinks and hardlinks that stay inside', async () => {
    const { dest } = await setup();
    const archive = rawTar([
      { path: 'dir/file', body: 'content' },
      { path: 'dir/nested/up', type: 'symlink', linkpath: '../file' },
      { path: 'self', type: 'symlink', linkpath: '.' },
      { path: 'through', type: 'symlink', linkpath: 'self/dir/file' },
      { path: 'hard', type: 'hardlink', linkpath: 'dir/file' },
      // A framework bundle's layout: the link that uses `Current` comes first in sorted order.
      { path: 'Fw/Headers', type: 'symlink', linkpath: 'Versions/Current/Headers' },
      { path: 'Fw/Versions/A/Headers/h.h', body: 'h' },
      { path: 'Fw/Versions/Current', type: 'symlink', linkpath: 'A' },
    ]);
    expect(await extractWorkspace(archive, dest)).toEqual({ files: 8, bytes: 8 });
    expect(await readFile(path.join(dest, 'Fw/Headers/h.h'), 'utf8')).toBe('h');
    expect(await readFile(path.join(dest, 'dir/nested/up'), 'utf8')).toBe('content');
    expect(await readFile(path.join(dest, 'through'), 'utf8')).toBe('content');
    expect(await readFile(path.join(dest, 'hard'), 'utf8')).toBe('content');
  });
});
