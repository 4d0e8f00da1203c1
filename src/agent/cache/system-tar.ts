import { execFile, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import type { JobUser } from '../job-user.js';
import { findOnPath } from '../process.js';

const execFileAsync = promisify(execFile);

/**
 * GNU tar, when the machine (or the job's image) has it: it packs and unpacks thousands of small
 * files an order of magnitude faster than node-tar, which spends its time in JavaScript per
 * entry. Without it (busybox, distroless images) the caller falls back to node-tar.
 */
export async function findGnuTar(path: string | undefined): Promise<string | undefined> {
  const tar = findOnPath(['tar'], path);
  if (!tar) return undefined;
  const known = gnuTars.get(tar);
  if (known !== undefined) return known ? tar : undefined;
  const version = await execFileAsync(tar, ['--version'], { timeout: 10_000 }).catch(() => undefined);
  const gnu = version?.stdout.startsWith('tar (GNU tar)') ?? false;
  gnuTars.set(tar, gnu);
  return gnu ? tar : undefined;
}
const gnuTars = new Map<string, boolean>();

export interface SystemTarOptions {
  tar: string;
  /** Run as this user (the job's), so tar can read and write only what the job's steps can. */
  user?: JobUser;
}

/**
 * Unpacks the archive read from `archive` into `dir` with GNU tar, as the job's user: owners
 * are not taken from the archive, modes are masked by the umask, modification times are kept.
 * The archive must have passed `checkArchive` already; GNU tar's own refusals (`..`, leading
 * `/`, symlinks made last) apply on top.
 */
export async function extractWithTar(archive: Readable, dir: string, o: SystemTarOptions): Promise<void> {
  const args = ['-x', '-f', '-', '-C', dir, '--no-same-owner', '--no-same-permissions', '--no-overwrite-dir'];
  await runTar(o, args, (stdin) => pipeline(archive, stdin));
}

/** Packs everything under `dir` (symlinks as links) into a POSIX tar written to `out`. */
export async function packWithTar(dir: string, out: Writable, o: SystemTarOptions): Promise<void> {
  // 512-byte records: a small cache is not padded to 10 kB.
  const args = ['-c', '-f', '-', '-C', dir, '--format=gnu', '--blocking-factor=1', '.'];
  await runTar(o, args, undefined, out);
}

async function runTar(
  o: SystemTarOptions,
  args: string[],
  feed?: (stdin: Writable) => Promise<void>,
  out?: Writable,
): Promise<void> {
  const child = spawn(o.tar, args, {
    stdio: [feed ? 'pipe' : 'ignore', out ? 'pipe' : 'ignore', 'pipe'],
    ...(o.user ? { uid: o.user.uid, gid: o.user.gid } : {}),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 4000) stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const work = [
    feed ? feed(child.stdin!) : Promise.resolve(),
    out ? pipeline(child.stdout!, out) : Promise.resolve(),
  ];
  const [exit, ...rest] = await Promise.allSettled([exited, ...work]);
  if (exit!.status === 'rejected') throw exit!.reason;
  // tar's own words first: a pipe it closed early only says that it stopped.
  if (exit!.value !== 0)
    throw new Error(`tar ${args[0]} failed (exit ${exit!.value}): ${stderr.trim().slice(0, 500)}`);
  // tar stops reading at the archive's end-of-archive blocks and may close its input before the
  // padding after them is sent: once it exited 0 a broken feed is that, not a failure. Its output
  // (a pack) must have been taken whole.
  const [fed, taken] = rest;
  if (taken?.status === 'rejected') throw taken.reason;
  if (fed?.status === 'rejected' && !feed) throw fed.reason;
}
