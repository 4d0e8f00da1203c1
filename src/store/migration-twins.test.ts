import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const numbered = (dir: string) =>
  readdirSync(join(import.meta.dirname, dir))
    .filter((f) => /^\d{4}_.+\.sql$/.test(f))
    .sort();

it('every SQLite migration has its PostgreSQL twin of the same number and name', () => {
  // A change of schema lands in both stores at once, or a replica set would lag the embedded one.
  expect(numbered('postgres/migrations')).toEqual(numbered('migrations'));
});
