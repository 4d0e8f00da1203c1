import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { SqliteStore } from './sqlite-store.js';

// Only the checkpoint timer is faked: the group commit's setImmediate must stay real.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
});
afterEach(() => {
  vi.useRealTimers();
});

it('copies the WAL into the database file on its timer, and then reuses the WAL instead of growing it', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'slipway-checkpoint-')), 'db.sqlite');
  const store = new SqliteStore(file);
  const write = async (from: number) => {
    for (let i = from; i < from + 500; i++)
      await store.ensurePool(`pool-${i}`, { allowDockerSocket: false }, 0);
  };
  await write(0);
  const walBefore = statSync(`${file}-wal`).size;
  const dbBefore = statSync(file).size;
  vi.advanceTimersByTime(1_000);
  // The pools are in the database file now, not only in the WAL.
  expect(statSync(file).size).toBeGreaterThan(dbBefore);
  await write(500);
  // The next writes start the WAL over: it stays the size one interval's writes need.
  expect(statSync(`${file}-wal`).size).toBeLessThanOrEqual(walBefore);
  expect((await store.listPools()).length).toBe(1_000);
  await store.close();
});
