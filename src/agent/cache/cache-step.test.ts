import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { StepPlan } from '../../pipeline/index.js';
import type { ApiClient, JobSpec } from '../../protocol/index.js';
import type { LogStream } from '../log-stream.js';
import { JobState } from '../step-output.js';
import { globToRegExp, isPathySegment, matchFiles, resolveCacheKey } from './cache-key.js';
import { restoreCache, saveCache } from './cache-step.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-cache-'));
  dirs.push(dir);
  return dir;
}

async function put(root: string, file: string, content = file): Promise<void> {
  await mkdir(join(root, file, '..'), { recursive: true });
  await writeFile(join(root, file), content);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const expand = (text: string) => text.replace('$(Agent.OS)', 'Linux');

describe('resolveCacheKey', () => {
  it.each([
    ['npm', false],
    ['"package-lock.json"', false],
    ['package-lock.json', true],
    ['v1.', false],
    ['src/lock', true],
    ['**/yarn.lock', true],
    ['a,b', true],
  ])('reads %s as a path: %s', (segment, pathy) => {
    expect(isPathySegment(segment)).toBe(pathy);
  });

  it('splits on |, trims, keeps quoted strings, expands macros and hashes the files a segment names', async () => {
    const root = await tempDir();
    await put(root, 'package-lock.json', '{"v":1}');
    const one = await resolveCacheKey(' npm | "$(Agent.OS)" |package-lock.json ', { expand, root });
    expect(one.key).toMatch(/^npm\|"Linux"\|[0-9a-f]{64}$/);
    expect(one.segments.map((s) => s.kind)).toEqual(['string', 'string', 'file']);
    expect((await resolveCacheKey('npm | "$(Agent.OS)" | package-lock.json', { expand, root })).key).toBe(
      one.key,
    );
    await put(root, 'package-lock.json', '{"v":2}');
    expect((await resolveCacheKey('npm | "$(Agent.OS)" | package-lock.json', { expand, root })).key).not.toBe(
      one.key,
    );
  });

  it('hashes every file a glob matches, without the ones a ! pattern excludes', async () => {
    const root = await tempDir();
    await put(root, 'a/yarn.lock', '1');
    await put(root, 'b/c/yarn.lock', '2');
    await put(root, 'node_modules/x/yarn.lock', '3');
    const files = await matchFiles(root, ['**/yarn.lock', '!**/node_modules/**']);
    expect(files.map((f) => f.slice(root.length + 1))).toEqual(['a/yarn.lock', 'b/c/yarn.lock']);
    const key = await resolveCacheKey('yarn | **/yarn.lock,!**/node_modules/**', { expand, root });
    expect(key.segments[1]).toMatchObject({ kind: 'files', files: 2 });
    await put(root, 'node_modules/x/yarn.lock', 'changed');
    expect((await resolveCacheKey('yarn | **/yarn.lock,!**/node_modules/**', { expand, root })).key).toBe(
      key.key,
    );
  });

  it('fails, naming the segment, when a file segment matches nothing', async () => {
    const root = await tempDir();
    await expect(resolveCacheKey('npm | package-lock.json', { expand, root })).rejects.toThrow(
      /key segment 'package-lock.json' names no file/,
    );
    await expect(resolveCacheKey('npm | **/*.lock', { expand, root })).rejects.toThrow(
      /key segment '\*\*\/\*.lock' matches no file/,
    );
  });

  it('globs: ** spans folders, * does not, {a,b} is either', () => {
    expect(globToRegExp('/r/**/*.lock').test('/r/x/y/z.lock')).toBe(true);
    expect(globToRegExp('/r/**/*.lock').test('/r/z.lock')).toBe(true);
    expect(globToRegExp('/r/*.lock').test('/r/x/z.lock')).toBe(false);
    expect(globToRegExp('/r/{a,b}.txt').test('/r/b.txt')).toBe(true);
  });
});

interface RawEntry {
  path: string;
  type?: 'file' | 'hardlink' | 'symlink' | 'chardev' | 'fifo';
  body?: string;
  linkpath?: string;
}

const TYPE_FLAGS = { file: '0', hardlink: '1', symlink: '2', chardev: '3', fifo: '6' } as const;

/** An uncompressed ustar archive written byte by byte, so nothing cleans its paths first. */
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
    octal(100, 8, 0o644);
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
  return Buffer.concat(blocks);
}

/** The four cache calls of the API, answered from memory. */
class FakeCacheApi {
  entries = new Map<string, { bytes: Buffer; sha256?: string }>();
  saved: Array<{ key: string; sha256: string; size: number; bytes: Buffer }> = [];
  lookups: string[][] = [];

  async cacheLookup(_job: string, body: { keys: string[] }) {
    this.lookups.push(body.keys);
    for (const [i, key] of body.keys.entries()) {
      for (const [k, e] of this.entries) {
        if (i === 0 ? k === key : k.startsWith(key)) {
          return {
            entry: { id: k, key: k, size: e.bytes.length, sha256: e.sha256 ?? sha(e.bytes), exact: i === 0 },
          };
        }
      }
    }
    return { entry: null };
  }
  async cacheOpen(_job: string, id: string) {
    return Readable.from([this.entries.get(id)!.bytes]);
  }
  async cacheReserve(_job: string, body: { key: string }) {
    return { exists: this.entries.has(body.key) };
  }
  async cacheSave(_job: string, q: { key: string; sha256: string; size: number }, archive: Readable) {
    const chunks: Buffer[] = [];
    for await (const c of archive) chunks.push(c as Buffer);
    this.saved.push({ ...q, bytes: Buffer.concat(chunks) });
    return { saved: true, evicted: 0 };
  }
}

async function setup(cache: Partial<NonNullable<StepPlan['cache']>> = {}, systemTar = true) {
  const s = await tempDir();
  const tmp = await tempDir();
  const api = new FakeCacheApi();
  const log: string[] = [];
  const state = new JobState({ 'Agent.OS': 'Linux' }, []);
  const options = {
    key: 'deps | "$(Agent.OS)"',
    restoreKeys: ['deps'],
    path: 'deps',
    cacheHitVar: 'HIT',
    ...cache,
  };
  const step = { kind: 'cache', cache: options } as StepPlan;
  const save = { kind: 'cacheSave', cacheSave: { ...options, restoreStep: 0 } } as StepPlan;
  const c = {
    client: api as unknown as ApiClient,
    spec: { jobId: 'j1', leaseToken: 't' } as JobSpec,
    state,
    dirs: { s, tmp },
    out: { write: (t: string) => log.push(t) } as unknown as LogStream,
    expand,
    stop: new AbortController().signal,
    systemTar,
  };
  return { api, log: () => log.join(''), state, step, save, c, s };
}

// With GNU tar (this machine's), and with node-tar alone (images without GNU tar).
describe.each([
  ['GNU tar', true],
  ['node-tar', false],
])('restoreCache and saveCache with %s', (_tar, systemTar) => {
  it('misses, then saves the folder under the resolved key after the job', async () => {
    const t = await setup({}, systemTar);
    expect(await restoreCache(t.step, 0, t.c)).toEqual({ result: 'succeeded' });
    expect(t.state.variables.HIT).toBe('false');
    expect(t.api.lookups).toEqual([['deps|"Linux"', 'deps']]);
    await put(t.s, 'deps/lib/a.js', 'module');
    expect(await saveCache(t.save, t.c)).toEqual({ result: 'succeeded' });
    const [saved] = t.api.saved;
    expect(saved).toMatchObject({
      key: 'deps|"Linux"',
      size: saved!.bytes.length,
      sha256: sha(saved!.bytes),
    });
    expect(t.log()).toMatch(/Saved 1 files .* as 'deps\|"Linux"'/);
    // What was saved restores: the archive of either tar passes the checks and unpacks.
    const again = await setup({}, systemTar);
    again.api.entries.set('deps|"Linux"', { bytes: saved!.bytes });
    await restoreCache(again.step, 0, again.c);
    expect(await readFile(join(again.s, 'deps/lib/a.js'), 'utf8')).toBe('module');
  });

  it('restores an exact hit (cacheHitVar true) and then does not save', async () => {
    const t = await setup({}, systemTar);
    t.api.entries.set('deps|"Linux"', { bytes: rawTar([{ path: 'lib/a.js', body: 'cached' }]) });
    expect(await restoreCache(t.step, 0, t.c)).toEqual({ result: 'succeeded' });
    expect(await readFile(join(t.s, 'deps/lib/a.js'), 'utf8')).toBe('cached');
    expect(t.state.variables.HIT).toBe('true');
    expect(await saveCache(t.save, t.c)).toMatchObject({ result: 'skipped' });
    expect(t.log()).toContain(`Cache hit on the exact key 'deps|"Linux"': not saving`);
    expect(t.api.saved).toEqual([]);
  });

  it('restores a restore-key hit as inexact, and saves afterwards', async () => {
    const t = await setup({}, systemTar);
    t.api.entries.set('deps|"Darwin"', { bytes: rawTar([{ path: 'old.js', body: 'older' }]) });
    await restoreCache(t.step, 0, t.c);
    expect(t.state.variables.HIT).toBe('inexact');
    expect(await readFile(join(t.s, 'deps/old.js'), 'utf8')).toBe('older');
    await saveCache(t.save, t.c);
    expect(t.api.saved.map((s) => s.key)).toEqual(['deps|"Linux"']);
  });

  it('refuses an entry whose checksum is not the recorded one before unpacking anything', async () => {
    const t = await setup({}, systemTar);
    const good = rawTar([{ path: 'a.js', body: 'good' }]);
    t.api.entries.set('deps|"Linux"', { bytes: rawTar([{ path: 'a.js', body: 'evil' }]), sha256: sha(good) });
    const outcome = await restoreCache(t.step, 0, t.c);
    expect(outcome).toMatchObject({ result: 'succeededWithIssues' });
    expect(t.log()).toMatch(
      /##\[warning\]the cache entry 'deps\|"Linux"' failed its checksum: expected SHA-256/,
    );
    await expect(lstat(join(t.s, 'deps'))).rejects.toThrow();
    expect(t.state.variables.HIT).toBe('false');
  });

  it.each<[string, RawEntry[], RegExp]>([
    [
      'a .. path',
      [{ path: '../evil', body: 'x' }],
      /cache archive entry "\.\.\/evil" has a '\.\.' path segment/,
    ],
    ['an absolute path', [{ path: '/tmp/evil', body: 'x' }], /entry "\/tmp\/evil" has an absolute path/],
    [
      'a symlink out and a file through it',
      [
        { path: 'link', type: 'symlink', linkpath: '../../..' },
        { path: 'link/evil', body: 'x' },
      ],
      /entry "link" is a symlink to "\.\.\/\.\.\/\.\.", outside the cache path/,
    ],
    [
      'a hardlink to a file outside',
      [{ path: 'hl', type: 'hardlink', linkpath: '../../etc/passwd' }],
      /entry "hl" is a hardlink to "\.\.\/\.\.\/etc\/passwd", outside the cache path/,
    ],
    ['a device', [{ path: 'dev', type: 'chardev' }], /entry "dev" is a CharacterDevice entry/],
    ['a fifo', [{ path: 'pipe', type: 'fifo' }], /entry "pipe" is a FIFO entry/],
  ])(
    'refuses a hostile archive with %s, writing nothing outside the path',
    async (_what, entries, message) => {
      const t = await setup({}, systemTar);
      t.api.entries.set('deps|"Linux"', { bytes: rawTar(entries) });
      await expect(restoreCache(t.step, 0, t.c)).rejects.toThrow(message);
      await expect(lstat(join(t.s, 'evil'))).rejects.toThrow();
      await expect(lstat(join(t.s, '..', 'evil'))).rejects.toThrow();
    },
  );

  it('fails, naming the segment, when the key names a file that does not exist', async () => {
    const t = await setup({ key: 'deps | lock.json' }, systemTar);
    expect(await restoreCache(t.step, 0, t.c)).toMatchObject({
      result: 'failed',
      reason: expect.stringMatching(/key segment 'lock.json' names no file/),
    });
  });

  it('refuses a key that carries a secret, since keys are stored in clear', async () => {
    const t = await setup({ key: 'deps | $(token)' }, systemTar);
    t.state.addSecret('s3cr3t-value');
    t.c.expand = (text) => text.replace('$(token)', 's3cr3t-value');
    expect(await restoreCache(t.step, 0, t.c)).toMatchObject({
      result: 'failed',
      reason: /contains a secret/,
    });
  });
});
