import { execFileSync } from 'node:child_process';
import { mkdtemp, open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheBlobKey } from '../server/services/caches.js';
import { killAll, runCli, spawnAgent, startTestServer, type TestServer } from '../test-support/harness.js';

/**
 * Restores the `deps` folder from the cache; a step then says what it found, or makes it
 * holding `$(MARK)`. `lock.txt` is part of the key; the restore key matches any lock.
 */
const PIPELINE = `
steps:
- cache:
    key: 'deps | "$(Agent.OS)" | lock.txt'
    restoreKeys:
    - 'deps | "$(Agent.OS)"'
    path: deps
    cacheHitVar: HIT
- bash: |
    echo "hit=$(HIT)"
    if [ -f deps/made.txt ]; then echo "restored: $(cat deps/made.txt)"; fi
    if [ "$(OVERWRITE)" = yes ] || [ ! -f deps/made.txt ]; then mkdir -p deps; echo "$(MARK)" > deps/made.txt; echo "created: $(MARK)"; fi
  displayName: use deps
`;

/** The same without restore keys: a run finds its exact key or nothing. */
const EXACT_PIPELINE = PIPELINE.replace(`    restoreKeys:\n    - 'deps | "$(Agent.OS)"'\n`, '');

function git(cwd: string, ...args: string[]): void {
  execFileSync('git', args, { cwd, stdio: 'ignore' });
}

/** A git work tree on `branch` whose remote's default branch is main, holding the pipeline and `lock.txt`. */
async function repo(branch: string, lock: string, pipeline = PIPELINE): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-cache-ws-'));
  await writeFile(join(dir, 'azure-pipelines.yml'), pipeline);
  await writeFile(join(dir, 'lock.txt'), lock);
  git(dir, 'init', '-q', '-b', branch);
  git(
    dir,
    '-c',
    'user.email=t@example.com',
    '-c',
    'user.name=t',
    'commit',
    '-q',
    '--allow-empty',
    '-m',
    'init',
  );
  git(dir, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
  git(dir, 'symbolic-ref', 'refs/remotes/origin/HEAD', 'refs/remotes/origin/main');
  return dir;
}

async function run(ts: TestServer, dir: string, mark: string, ...extra: string[]) {
  return runCli(ts, ['--dir', dir, '--var', `MARK=${mark}`, ...extra]);
}

describe('caches through real runs: save, restore, branch scopes, poisoning, damage', () => {
  let ts: TestServer;

  beforeAll(async () => {
    ts = await startTestServer();
    await spawnAgent(ts, 'cache-agent');
  });
  afterAll(async () => {
    await killAll();
    await ts.stop();
  });

  it('misses and saves on the first run; the second restores the exact key and skips the save', async () => {
    const dir = await repo('main', 'v1');
    const first = await run(ts, dir, 'main-v1');
    expect(first.output).toContain('hit=false');
    expect(first.output).toContain('created: main-v1');
    expect(first.output).toMatch(/Saved 1 files .* as 'deps\|"Linux"\|[0-9a-f]{64}'/);
    expect(first.code).toBe(0);

    const second = await run(ts, dir, 'unused');
    expect(second.output).toContain('hit=true');
    expect(second.output).toContain('restored: main-v1');
    expect(second.output).toMatch(/Cache hit on the exact key .*: not saving/);
    expect(second.code).toBe(0);
  });

  it("another branch restores the default branch's entry; its own save is not visible to the default branch", async () => {
    const feature = await repo('feature', 'v2');
    const onFeature = await run(ts, feature, 'feature-v2');
    // v2 is not saved on main: the restore key finds main's v1 entry.
    expect(onFeature.output).toContain('hit=inexact');
    expect(onFeature.output).toContain('restored: main-v1');
    expect(onFeature.output).toMatch(/Saved 1 files/);
    const again = await run(ts, feature, 'unused');
    expect(again.output).toContain('hit=true');

    // main with the same lock: the feature's exact entry is not in main's scope.
    const main = await repo('main', 'v2');
    const onMain = await run(ts, main, 'main-v2');
    expect(onMain.output).toContain('hit=inexact');
    expect(onMain.output).toContain('restored: main-v1');
    expect(onMain.output).not.toContain('feature-v2');
  });

  it('never restores a poisoned entry written by an untrusted run into a trusted one', async () => {
    const untrusted = await repo('main', 'v3');
    // The untrusted run (a fork's pull request) makes its own v3 entry, with poison in it.
    const poison = await run(ts, untrusted, 'POISON', '--untrusted', '--var', 'OVERWRITE=yes');
    expect(poison.output).toContain('created: POISON');
    expect(poison.output).toMatch(/Saved 1 files/);
    // Runs of the same untrusted source do read it back.
    const poisonAgain = await run(ts, untrusted, 'unused', '--untrusted');
    expect(poisonAgain.output).toContain('hit=true');
    expect(poisonAgain.output).toContain('restored: POISON');

    // A trusted run of main with the very same key does not see it.
    const trusted = await repo('main', 'v3');
    const clean = await run(ts, trusted, 'main-v3');
    expect(clean.output).not.toContain('POISON');
    expect(clean.output).not.toContain('hit=true');
    expect(clean.code).toBe(0);
  });

  it('refuses an entry whose blob was damaged, before unpacking it, and says so', async () => {
    const dir = await repo('main', 'v4');
    await run(ts, dir, 'main-v4');
    const store = ts.server.context.store;
    const [entry] = (await store.listCacheEntries()).sort((x, y) => y.createdAt - x.createdAt);
    expect(entry?.scope).toBe('branch:refs/heads/main');
    // Flip one byte of the archive's content (after the blob file's 128-byte header).
    const file = join(ts.server.dataDir, 'blobs', cacheBlobKey(entry!.sha256));
    const fh = await open(file, 'r+');
    const byte = Buffer.alloc(1);
    await fh.read(byte, 0, 1, 128 + 600);
    byte[0] = byte[0]! ^ 0xff;
    await fh.write(byte, 0, 1, 128 + 600);
    await fh.close();

    const damaged = await run(ts, dir, 'rebuilt');
    expect(damaged.output).toMatch(
      /warning.*the cache entry .* (could not be downloaded whole|failed its checksum)/,
    );
    expect(damaged.output).toContain('hit=false');
    expect(damaged.output).not.toContain('restored:');
    expect(damaged.output).toContain('created: rebuilt');
    expect(damaged.code).toBe(0);
  });
});

describe('cache eviction through real runs', () => {
  let ts: TestServer;

  beforeAll(async () => {
    ts = await startTestServer();
    await spawnAgent(ts, 'evict-agent');
  });
  afterAll(async () => {
    await killAll();
    await ts.stop();
  });

  it('removes the least recently used entry when the total grows past the limit', async () => {
    expect(EXACT_PIPELINE).not.toContain('restoreKeys');
    const a = await repo('main', 'a', EXACT_PIPELINE);
    const b = await repo('main', 'b', EXACT_PIPELINE);
    const c = await repo('main', 'c', EXACT_PIPELINE);
    await run(ts, a, 'A');
    const [first] = await ts.server.context.store.listCacheEntries();
    // Room for two entries of this pipeline's size, not three (as `--cache-max-gib` sets it).
    (ts.server.context.caches as { maxTotalBytes: number }).maxTotalBytes = 2.5 * first!.size;
    await run(ts, b, 'B');
    const sizes = (await ts.server.context.store.listCacheEntries()).map((e) => e.size);
    expect(sizes).toEqual([first!.size, first!.size]);
    // Using A makes B the least recently used.
    expect((await run(ts, a, 'unused')).output).toContain('restored: A');
    const third = await run(ts, c, 'C');
    expect(third.output).toContain('The server evicted 1 least recently used entries');
    expect((await ts.server.context.store.listCacheEntries()).length).toBe(2);
    const aAgain = await run(ts, a, 'unused');
    expect(aAgain.output, aAgain.output).toContain('hit=true');
    const bAgain = await run(ts, b, 'B2');
    expect(bAgain.output).toContain('hit=false');
    expect(bAgain.output).toContain('created: B2');
  });
});
