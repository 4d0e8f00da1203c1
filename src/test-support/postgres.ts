import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The PostgreSQL server the tests use (`scripts/ensure-postgres.sh` starts one on loopback);
 * `SLIPWAY_TEST_POSTGRES` points them at another. A URL of a role that may create databases.
 */
export const TEST_POSTGRES_URL =
  process.env.SLIPWAY_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:54329/postgres';

export interface TestDatabase {
  /** A `postgres://` URL of a new, empty database that only this test uses. */
  url: string;
  /** Drops the database, ending any connection still open to it. */
  drop(): Promise<void>;
}

/** Creates an empty database with a unique name, so tests never see each other's rows. */
export async function createTestDatabase(prefix = 'slipway_test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await admin(async (c) => {
    await c.query(`CREATE DATABASE ${name}`);
  });
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      admin(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}

async function admin(fn: (c: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await fn(client);
  } finally {
    await client.end();
  }
}
