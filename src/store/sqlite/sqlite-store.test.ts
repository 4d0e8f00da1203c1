import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeContract } from '../store.contract.js';
import { SqliteStore } from './sqlite-store.js';

storeContract(
  'SQLite',
  async () => new SqliteStore(join(mkdtempSync(join(tmpdir(), 'slipway-store-')), 'db.sqlite')),
);
