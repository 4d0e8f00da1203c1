import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { create } from 'tar';
import type { StepPlan, TaskResult } from '../../pipeline/index.js';
import type { ApiClient, JobSpec } from '../../protocol/index.js';
import { ArchiveChecker, extractWorkspace, listAllFiles } from '../../shared/workspace-archive.js';
import { chownTree, type JobUser } from '../job-user.js';
import type { LogStream } from '../log-stream.js';
import type { JobState } from '../step-output.js';
import { CacheKeyError, type ResolvedKey, resolveCacheKey } from './cache-key.js';
import { extractWithTar, findGnuTar, packWithTar } from './system-tar.js';

export interface CacheStepContext {
  client: ApiClient;
  spec: JobSpec;
  state: JobState;
  dirs: { s: string };
  out: LogStream;
  /** Expands `$(name)` macros with the job's variables (no secrets). */
  expand: (text: string) => string;
  jobUser?: JobUser;
  stop: AbortSignal;
  /** The environment steps start from; its PATH says whether GNU tar is there. */
  baseEnv?: Record<string, string>;
  /** Use GNU tar when there is one. Default true; false: node-tar only. */
  systemTar?: boolean;
}

export type CacheOutcome = { result: TaskResult; reason?: string };

/** What the restore half found, for its post-job half. */
interface Restored {
  key: string;
  path: string;
  exact: boolean;
}

/** The restores of each job, by the index of their cache step; gone with the job's state. */
const restoredByJob = new WeakMap<JobState, Map<number, Restored>>();

/** How cache archives are checked: entries stay inside the path; the size was bounded by the server. */
const CHECK_OPTIONS = { what: 'cache' as const, maxBytes: Number.MAX_SAFE_INTEGER };

/** Transfers are bounded by their size, not by a request timeout. */
const TRANSFER_TIMEOUT_MS = 6 * 60 * 60_000;

const MB = 1e6;

/**
 * The cache step: resolves the key and the restore keys, asks the server for the best entry
 * its run may read, downloads it to a temporary file while hashing it, and only when the
 * checksum is the one the server recorded unpacks it into `path`, refusing any entry that
 * would land outside. A miss, or an entry that fails its checksum, restores nothing.
 */
export async function restoreCache(
  step: StepPlan,
  index: number,
  c: CacheStepContext,
): Promise<CacheOutcome> {
  const o = step.cache;
  if (!o) return { result: 'failed', reason: 'the cache step has no cache inputs' };
  const resolved = await resolveKeys(o.key, o.restoreKeys, c);
  if ('failed' in resolved) return resolved.failed;
  const { key, restoreKeys } = resolved;
  const path = resolveIn(c.dirs.s, c.expand(o.path));
  const record = (exact: boolean) => restoredMap(c.state).set(index, { key: key.key, path, exact });
  const setHit = (value: 'true' | 'inexact' | 'false') => {
    if (!o.cacheHitVar) return;
    if (c.state.readOnly.has(o.cacheHitVar)) {
      c.out.write(`##[warning]cacheHitVar ${o.cacheHitVar} is read-only; it was not set\n`);
      return;
    }
    c.state.variables[o.cacheHitVar] = value;
    c.out.write(`${o.cacheHitVar} = ${value}\n`);
  };

  const token = { token: c.spec.leaseToken };
  const { entry } = await c.client.cacheLookup(c.spec.jobId, { keys: [key.key, ...restoreKeys] }, token);
  if (!entry) {
    c.out.write('Cache miss: no entry for the key or any restore key\n');
    record(false);
    setHit('false');
    return { result: 'succeeded' };
  }
  c.out.write(
    `Cache ${entry.exact ? 'hit' : 'hit on a restore key'}: entry '${entry.key}' (${formatMB(entry.size)})\n`,
  );
  const started = Date.now();
  const { tmp, done } = await privateTemp();
  try {
    // With GNU tar, the archive's entries are checked as it downloads (node-tar checks as it writes).
    const tar = c.systemTar === false ? undefined : await findGnuTar(c.baseEnv?.PATH ?? process.env.PATH);
    const checker = tar ? new ArchiveChecker(path, CHECK_OPTIONS) : undefined;
    const problem = await downloadVerified(c, entry, tmp, checker);
    if (problem) {
      c.out.write(`##[warning]${problem}; nothing was restored\n`);
      record(false);
      setHit('false');
      return {
        result: 'succeededWithIssues',
        reason: 'the cache entry could not be verified; nothing restored',
      };
    }
    const downloaded = Date.now();
    const { files, bytes } = await unpack(tmp, path, c, tar && checker ? { tar, checker } : undefined);
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    c.out.write(
      `Restored ${files} ${files === 1 ? 'file' : 'files'} (${formatMB(bytes)}) into ${path} in ${seconds.toFixed(1)}s (${(entry.size / MB / seconds).toFixed(1)} MB/s; download ${((downloaded - started) / 1000).toFixed(1)}s, unpack ${((Date.now() - downloaded) / 1000).toFixed(1)}s with ${tar ? 'GNU tar' : 'node-tar'})\n`,
    );
  } finally {
    await done();
  }
  record(entry.exact);
  setHit(entry.exact ? 'true' : 'inexact');
  return { result: 'succeeded' };
}

/**
 * The post-job half: after the job succeeded, packs `path` into a temporary tar while hashing
 * it and uploads it under the key the restore resolved (before the job's steps changed the
 * files it hashes). Skipped when the restore hit the key exactly, or did not run.
 */
export async function saveCache(step: StepPlan, c: CacheStepContext): Promise<CacheOutcome> {
  const o = step.cacheSave;
  if (!o) return { result: 'failed', reason: 'the post-job cache step has no cache inputs' };
  const restored = restoredMap(c.state).get(o.restoreStep);
  if (!restored) {
    c.out.write('The cache step did not run; nothing to save\n');
    return { result: 'skipped', reason: 'the cache step did not run' };
  }
  if (restored.exact) {
    c.out.write(`Cache hit on the exact key '${restored.key}': not saving\n`);
    return { result: 'skipped', reason: 'cache hit on the exact key; nothing to save' };
  }
  const info = await stat(restored.path).catch(() => undefined);
  if (!info?.isDirectory()) {
    c.out.write(`##[warning]${restored.path} does not exist or is no folder; nothing to save\n`);
    return { result: 'succeededWithIssues', reason: `nothing to save: ${restored.path} does not exist` };
  }
  const token = { token: c.spec.leaseToken, timeoutMs: TRANSFER_TIMEOUT_MS, signal: c.stop };
  const { tmp, done } = await privateTemp();
  try {
    const started = Date.now();
    const packed = await packToFile(restored.path, tmp, c);
    const { exists } = await c.client.cacheReserve(
      c.spec.jobId,
      { key: restored.key, size: packed.size },
      token,
    );
    if (exists) {
      c.out.write(`An entry for '${restored.key}' was saved meanwhile; entries are not replaced\n`);
      return { result: 'succeeded' };
    }
    const saved = await c.client.cacheSave(
      c.spec.jobId,
      { key: restored.key, sha256: packed.sha256, size: packed.size },
      createReadStream(tmp),
      token,
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    c.out.write(
      saved.saved
        ? `Saved ${packed.files} files (${formatMB(packed.size)}) from ${restored.path} as '${restored.key}' in ${seconds}s\n`
        : `An entry for '${restored.key}' was saved meanwhile; entries are not replaced\n`,
    );
    if (saved.evicted > 0) c.out.write(`The server evicted ${saved.evicted} least recently used entries\n`);
    return { result: 'succeeded' };
  } finally {
    await done();
  }
}

async function resolveKeys(
  key: string,
  restoreKeys: string[],
  c: CacheStepContext,
): Promise<{ key: ResolvedKey; restoreKeys: string[] } | { failed: CacheOutcome }> {
  const options = { expand: c.expand, root: c.dirs.s };
  try {
    const resolved = await resolveCacheKey(key, options);
    c.out.write('Resolving key:\n');
    for (const s of resolved.segments) {
      const detail =
        s.kind === 'string' ? '' : ` --> ${s.value} (${s.files} ${s.files === 1 ? 'file' : 'files'})`;
      c.out.write(`  - ${s.text} [${s.kind}]${detail}\n`);
    }
    c.out.write(`Resolved to: ${resolved.key}\n`);
    const prefixes: string[] = [];
    for (const r of restoreKeys) {
      const one = await resolveCacheKey(r, options);
      c.out.write(`Restore key: ${one.key}\n`);
      prefixes.push(one.key);
    }
    // Keys are stored and listed in clear: one that carries a secret is refused, naming none.
    if ([resolved.key, ...prefixes].some((k) => c.state.containsSecret(k)))
      return {
        failed: { result: 'failed', reason: 'the cache key contains a secret; keys are stored in clear' },
      };
    return { key: resolved, restoreKeys: prefixes };
  } catch (error) {
    if (error instanceof CacheKeyError) return { failed: { result: 'failed', reason: error.message } };
    throw error;
  }
}

/**
 * Streams the entry to `file`, hashing as it goes; answers what is wrong when the bytes are not
 * the ones recorded (nothing is unpacked then), undefined when they are.
 */
async function downloadVerified(
  c: CacheStepContext,
  entry: { id: string; key: string; size: number; sha256: string },
  file: string,
  checker?: ArchiveChecker,
): Promise<string | undefined> {
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      hash.update(chunk);
      checker?.write(chunk);
      done(null, chunk);
    },
  });
  try {
    const body = await c.client.cacheOpen(c.spec.jobId, entry.id, {
      token: c.spec.leaseToken,
      timeoutMs: TRANSFER_TIMEOUT_MS,
      signal: c.stop,
    });
    await pipeline(body, meter, createWriteStream(file, { mode: 0o600 }));
  } catch (error) {
    return `the cache entry '${entry.key}' could not be downloaded whole (${(error as Error).message})`;
  }
  const actual = hash.digest('hex');
  if (size !== entry.size || actual !== entry.sha256) {
    return `the cache entry '${entry.key}' failed its checksum: expected SHA-256 ${entry.sha256} (${entry.size} bytes), got ${actual} (${size} bytes)`;
  }
  return undefined;
}

/**
 * Unpacks the verified archive `file` into `path`, refusing it whole, before anything is
 * written, when any entry would land outside (`checkArchive`); then GNU tar, run as the job's
 * user, writes it (node-tar, which checks each entry as it writes, where there is no GNU tar).
 */
async function unpack(
  file: string,
  path: string,
  c: CacheStepContext,
  system?: { tar: string; checker: ArchiveChecker },
): Promise<{ files: number; bytes: number }> {
  // Before anything is written: an archive with one entry that leads out is refused whole.
  const checked = await system?.checker.end();
  const created = await mkdir(path, { recursive: true });
  if (c.jobUser && created) await chownTree(created, c.jobUser);
  if (system && checked) {
    await extractWithTar(createReadStream(file), path, { tar: system.tar, user: c.jobUser });
    return checked;
  }
  const written = await extractWorkspace(createReadStream(file), path, CHECK_OPTIONS);
  if (c.jobUser) await chownTree(path, c.jobUser);
  return written;
}

/** A tar of everything under `dir` (symlinks kept as links), written to `file` and hashed. */
async function packToFile(
  dir: string,
  file: string,
  c: CacheStepContext,
): Promise<{ sha256: string; size: number; files: number }> {
  const files = await listAllFiles(dir);
  // `./` keeps node-tar from reading `@name` as another archive to include; an empty folder
  // still needs one entry.
  const paths = files.length > 0 ? files.map((f) => `./${f}`) : ['.'];
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const tar = c.systemTar === false ? undefined : await findGnuTar(c.baseEnv?.PATH ?? process.env.PATH);
  const written = pipeline(meter, createWriteStream(file, { mode: 0o600 }));
  try {
    if (tar) {
      // As the job's user: it reads only what the job's steps could read.
      await packWithTar(dir, meter, { tar, user: c.jobUser });
    } else {
      await pipeline(create({ cwd: dir, portable: true, strict: true, noDirRecurse: true }, paths), meter);
    }
  } catch (error) {
    meter.destroy(error as Error);
    await written.catch(() => undefined);
    throw error;
  }
  await written;
  return { sha256: hash.digest('hex'), size, files: files.length };
}

/**
 * A file only the agent's user may touch (not the job's temporary folder, which the job's user
 * owns): what was verified is what gets unpacked, and what was hashed is what is sent.
 */
async function privateTemp(): Promise<{ tmp: string; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-cache-'));
  return { tmp: join(dir, 'archive.tar'), done: () => rm(dir, { recursive: true, force: true }) };
}

function restoredMap(state: JobState): Map<number, Restored> {
  let map = restoredByJob.get(state);
  if (!map) {
    map = new Map();
    restoredByJob.set(state, map);
  }
  return map;
}

function resolveIn(base: string, dir: string): string {
  return isAbsolute(dir) ? dir : resolve(base, dir);
}

function formatMB(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`;
}
