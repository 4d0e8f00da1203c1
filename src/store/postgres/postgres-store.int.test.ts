import { afterAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test-support/postgres.js';
import { storeContract } from '../store.contract.js';
import { PostgresStore } from './postgres-store.js';

// The same contract as SQLite, against a real PostgreSQL: every test in a new, empty database
// of its own, migrated from nothing as a first start would.
const databases: TestDatabase[] = [];
afterAll(async () => {
  await Promise.all(databases.map((d) => d.drop()));
});

storeContract('PostgreSQL', async () => {
  const db = await createTestDatabase('slipway_contract');
  databases.push(db);
  return PostgresStore.open(db.url);
});
