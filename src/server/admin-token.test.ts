import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashToken, newToken } from '../shared/ids.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { ensureAdminToken } from './admin-token.js';

let dir: string;
let file: string;
let stores: SqliteStore[];
const clock = { now: () => 1_000 };

/** Admin token rows, read from the database file itself. */
function adminRows(): number {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM tokens WHERE kind = 'adm'").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-admin-token-'));
  file = join(dir, 'slipway.db');
  // Two replicas: two connections to one database.
  stores = [new SqliteStore(file), new SqliteStore(file)];
});
afterEach(async () => {
  for (const s of stores) await s.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a shared admin token file', () => {
  it('is stored once by replicas starting together and again later, and works on each', async () => {
    const token = newToken('adm');
    const shared = join(dir, 'admin-token');
    await writeFile(shared, `${token}\n`, { mode: 0o400 });
    await Promise.all(stores.map((s) => ensureAdminToken(s, clock, { shared })));
    await ensureAdminToken(stores[1]!, clock, { shared });
    expect(adminRows()).toBe(1);
    for (const s of stores) expect(await s.findToken(hashToken(token))).toMatchObject({ kind: 'adm' });
    expect(existsSync(join(dir, 'admin.token'))).toBe(false);
  });

  it('refuses a file that holds no admin token, without showing what it holds', async () => {
    const shared = join(dir, 'admin-token');
    await writeFile(shared, 'hunter2-not-a-token\n');
    const error = await ensureAdminToken(stores[0]!, clock, { shared }).catch((e: Error) => e);
    expect(error).toMatchObject({ name: 'ValidationError' });
    expect((error as Error).message).toMatch(/slw_adm_/);
    expect((error as Error).message).not.toContain('hunter2');
    await expect(ensureAdminToken(stores[0]!, clock, { shared: join(dir, 'missing') })).rejects.toThrow(
      /--admin-token-file/,
    );
    expect(adminRows()).toBe(0);
  });
});

describe("a data directory's own admin token", () => {
  it('is made once and kept across restarts', async () => {
    const own = join(dir, 'admin.token');
    await ensureAdminToken(stores[0]!, clock, { own });
    await ensureAdminToken(stores[0]!, clock, { own });
    expect(adminRows()).toBe(1);
  });
});
