import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Db } from './db.js';
import { GroupCommit } from './group-commit.js';

let file: string;
let db: Db;
let group: GroupCommit;
let commits: number;

beforeEach(() => {
  file = join(mkdtempSync(join(tmpdir(), 'slipway-group-')), 'db.sqlite');
  db = new Database(file);
  db.pragma('journal_mode = WAL');
  // A deferred foreign key is checked at COMMIT: the one way to make a COMMIT itself fail.
  db.exec(`CREATE TABLE parent (id TEXT PRIMARY KEY);
    CREATE TABLE child (id TEXT PRIMARY KEY,
      parent TEXT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)`);
  db.pragma('foreign_keys = ON');
  commits = 0;
  group = new GroupCommit(db);
});

// Counts the COMMITs run, however they were prepared (the store caches its statements).
const statement = Object.getPrototypeOf(new Database(':memory:').prepare('SELECT 1'));
const run = statement.run;
beforeAll(() => {
  statement.run = function (this: Database.Statement, ...args: unknown[]) {
    if (this.source === 'COMMIT') commits++;
    return run.apply(this, args);
  };
});
afterAll(() => {
  statement.run = run;
});

/** What another connection (a reader after a restart) sees: only what was committed. */
function committed(table: string): string[] {
  const other = new Database(file, { readonly: true });
  const ids = (other.prepare(`SELECT id FROM ${table} ORDER BY id`).all() as { id: string }[]).map(
    (r) => r.id,
  );
  other.close();
  return ids;
}

const insert = (table: string, id: string, parent?: string) => () =>
  group.write(() =>
    parent === undefined
      ? db.prepare(`INSERT INTO ${table} (id) VALUES (?)`).run(id)
      : db.prepare(`INSERT INTO ${table} (id, parent) VALUES (?, ?)`).run(id, parent),
  );

it('commits the writes of one turn together, and answers each only once they are committed', async () => {
  const seen: string[][] = [];
  const writes = ['a', 'b', 'c'].map((id) =>
    insert('parent', id)().then(() => seen.push(committed('parent'))),
  );
  expect(committed('parent')).toEqual([]);
  await Promise.all(writes);
  expect(seen).toEqual([
    ['a', 'b', 'c'],
    ['a', 'b', 'c'],
    ['a', 'b', 'c'],
  ]);
  expect(commits).toBe(1);
});

it('rolls back a unit that throws alone; the rest of its batch commits', async () => {
  const ok = insert('parent', 'a')();
  const dup = insert('parent', 'a')();
  const other = insert('parent', 'b')();
  await expect(ok).resolves.toBeDefined();
  await expect(dup).rejects.toThrow(/UNIQUE/);
  await expect(other).resolves.toBeDefined();
  expect(committed('parent')).toEqual(['a', 'b']);
});

it('fails every waiter of a batch whose COMMIT fails, reads included, and starts afresh', async () => {
  const good = insert('parent', 'a')();
  const orphan = insert('child', 'x', 'missing')();
  // A read in the same turn saw the orphan, which never commits: it must not answer either.
  const read = group.read(() => db.prepare('SELECT COUNT(*) AS n FROM child').get());
  await expect(good).rejects.toThrow(/FOREIGN KEY/);
  await expect(orphan).rejects.toThrow(/FOREIGN KEY/);
  await expect(read).rejects.toThrow(/FOREIGN KEY/);
  expect(committed('parent')).toEqual([]);
  expect(db.inTransaction).toBe(false);
  await insert('parent', 'b')();
  expect(committed('parent')).toEqual(['b']);
});

it('answers a read at once when no write is pending', async () => {
  let settled = false;
  const read = group.read(() => 1).then(() => (settled = true));
  await Promise.resolve();
  await Promise.resolve();
  expect(settled).toBe(true);
  await read;
  expect(commits).toBe(0);
});

it('flushes another store’s batch before opening its own, so two connections in one thread never wait on each other', async () => {
  const second = new Database(file);
  second.pragma('busy_timeout = 5000');
  const otherGroup = new GroupCommit(second);
  const mine = insert('parent', 'a')();
  const theirs = otherGroup.write(() => second.prepare('INSERT INTO parent (id) VALUES (?)').run('b'));
  await Promise.all([mine, theirs]);
  expect(committed('parent')).toEqual(['a', 'b']);
  second.close();
});

it('refuses a write on a closed database with a rejection, never a throw', async () => {
  db.close();
  let attempt: Promise<unknown> | undefined;
  expect(() => {
    attempt = insert('parent', 'a')();
  }).not.toThrow();
  await expect(attempt).rejects.toThrow(/not open/);
});
