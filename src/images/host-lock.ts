import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SlipwayError } from '../shared/errors.js';

export class HostLockTimeoutError extends SlipwayError {}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function modifiedAt(path: string): Promise<number> {
  return (await stat(path).catch(() => undefined))?.mtimeMs ?? Date.now();
}

/**
 * Runs `fn` while holding a lock shared by every process on this machine. Parallel test files
 * (and fleets) build images and fill agent volumes at the same time; without it two rebuilds
 * race to tag `latest` and one may remove the image the other just returned. A lock whose
 * owner died is taken over.
 */
export async function withHostLock<T>(name: string, fn: () => Promise<T>, timeoutMs = 300_000): Promise<T> {
  const path = join(tmpdir(), `slipway-${name}.lock`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(path);
      await writeFile(join(path, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(await readFile(join(path, 'pid'), 'utf8').catch(() => ''));
      // No pid yet is an owner between mkdir and writeFile, unless that was long ago.
      const orphaned = owner > 0 ? !alive(owner) : Date.now() - (await modifiedAt(path)) > 10_000;
      if (orphaned) {
        await rm(path, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new HostLockTimeoutError(
          `waited ${timeoutMs} ms for ${path} (held by pid ${owner || 'unknown'})`,
        );
      }
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { recursive: true, force: true });
  }
}
