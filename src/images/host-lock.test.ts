import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { HostLockTimeoutError, withHostLock } from './host-lock.js';

const lockName = () => `test-${randomBytes(6).toString('hex')}`;

describe('withHostLock', () => {
  it('runs holders one at a time', async () => {
    const name = lockName();
    const events: string[] = [];
    const hold = (id: string) =>
      withHostLock(name, async () => {
        events.push(`${id}:in`);
        await sleep(50);
        events.push(`${id}:out`);
      });
    await Promise.all([hold('a'), hold('b')]);
    expect(events).toEqual(['a:in', 'a:out', 'b:in', 'b:out']);
  });

  it('takes over a lock whose owner died', async () => {
    const name = lockName();
    const path = join(tmpdir(), `slipway-${name}.lock`);
    await mkdir(path);
    // Pid 2^22 + 1 is above Linux's pid_max, so no process has it.
    await writeFile(join(path, 'pid'), String(2 ** 22 + 1));
    expect(await withHostLock(name, async () => 'mine', 1000)).toBe('mine');
    await expect(mkdir(path)).resolves.toBeUndefined();
    await rm(path, { recursive: true });
  });

  it('gives up on a live owner after the timeout', async () => {
    const name = lockName();
    const path = join(tmpdir(), `slipway-${name}.lock`);
    await mkdir(path);
    await writeFile(join(path, 'pid'), String(process.pid));
    try {
      await expect(withHostLock(name, async () => 'never', 200)).rejects.toBeInstanceOf(HostLockTimeoutError);
    } finally {
      await rm(path, { recursive: true, force: true });
    }
  });
});
