import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { SlipwayError, StoreUnavailableError, ValidationError } from '../../shared/errors.js';
import { packageRoot } from '../../shared/package-root.js';
import type { PgStoreOptions } from './url.js';

/** A pool or one client of it inside a transaction: the aggregate files take either. */
export type Db = pg.Pool | pg.PoolClient;

/** BIGINT (epoch ms, counts) and NUMERIC (sums) as numbers, on this pool only: pg's default is strings. */
const TYPES = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  }) as typeof pg.types.getTypeParser,
};

export function createPool(connectionString: string, o: PgStoreOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: o.poolMax,
    connectionTimeoutMillis: o.connectTimeoutMs,
    // The server cancels a statement past this; the client gives up a little later, for a
    // server that no longer answers at all.
    statement_timeout: o.statementTimeoutMs,
    query_timeout: o.statementTimeoutMs + 5_000,
    idleTimeoutMillis: 30_000,
    application_name: 'slipway',
    types: TYPES,
  });
  // An idle connection the server closed (a restart, a failover) must not end the process; the
  // next query takes a fresh one.
  pool.on('error', () => {});
  return pool;
}

/** SQLSTATEs worth trying again: the same statements succeed once the other transaction is gone. */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_TRIES = 5;

function isRetryable(e: unknown): boolean {
  return RETRYABLE.has((e as { code?: string }).code ?? '');
}

/**
 * Errors of the connection (refused, reset, timed out, the server shutting down) become
 * `StoreUnavailableError`; a domain error or a query error passes through unchanged.
 */
export function classifyPgError(e: unknown): unknown {
  if (e instanceof SlipwayError) return e;
  const err = e as { code?: string; message?: string };
  const code = err.code ?? '';
  const message = err.message ?? String(e);
  const connection =
    /^(08|57P0[1-3]|53300)/.test(code) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH'].includes(
      code,
    ) ||
    /Connection terminated|timeout exceeded when trying to connect|Query read timeout|not queryable/i.test(
      message,
    );
  if (code === '22021' || code === '22P05') {
    // SQLite keeps a NUL inside text; PostgreSQL's TEXT cannot. Input, not an outage.
    return new ValidationError('a value holds a NUL character (\\0), which the database cannot store', {
      cause: e,
    });
  }
  if (code === '57014') {
    return new StoreUnavailableError('the database cancelled a statement that ran past statement_timeout', {
      cause: e,
    });
  }
  if (connection) return new StoreUnavailableError(`the database is unreachable: ${message}`, { cause: e });
  return e;
}

/** One statement, retried on a serialization failure or deadlock. */
export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(
  db: Db,
  text: string,
  args: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.query<R>(text, args);
    } catch (e) {
      // Inside a transaction the whole transaction is retried, by `transaction`.
      if (isRetryable(e) && attempt < MAX_TRIES && db instanceof pg.Pool) continue;
      throw classifyPgError(e);
    }
  }
}

export async function rows<R extends pg.QueryResultRow>(
  db: Db,
  text: string,
  args: unknown[] = [],
): Promise<R[]> {
  return (await query<R>(db, text, args)).rows;
}

export async function one<R extends pg.QueryResultRow>(
  db: Db,
  text: string,
  args: unknown[] = [],
): Promise<R | undefined> {
  return (await query<R>(db, text, args)).rows[0];
}

export async function changes(db: Db, text: string, args: unknown[] = []): Promise<number> {
  return (await query(db, text, args)).rowCount ?? 0;
}

/**
 * Runs `fn` in one transaction on one client (READ COMMITTED; callers take row locks with
 * `FOR UPDATE` where they read then write). A serialization failure or deadlock rolls back
 * and runs it again, a bounded number of times.
 */
export async function transaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (e) {
      throw classifyPgError(e);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      const value = await fn(client);
      await client.query('COMMIT');
      return value;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true; // the connection is gone: do not hand it back to the pool
      }
      const cause = (e as { cause?: unknown }).cause ?? e;
      if ((isRetryable(e) || isRetryable(cause)) && attempt < MAX_TRIES) continue;
      throw classifyPgError(e);
    } finally {
      client.release(broken);
    }
  }
}

/** Where the numbered `.sql` migrations live, from `src/` (tests), `dist/` and the bundled CLI alike. */
function migrationsDir(): string {
  return join(packageRoot(import.meta.url), 'src', 'store', 'postgres', 'migrations');
}

/** How long one migration statement (or the wait for another replica's migrations) may take. */
const MIGRATION_TIMEOUT_MS = 10 * 60_000;

/** One lock id for "migrating Slipway's schema", the same in every replica. */
const MIGRATION_LOCK = 0x51_1b_3a_70;

/**
 * Applies the migrations not applied yet, each in its own transaction, under a session-level
 * advisory lock: replicas that start together take turns, and the later ones find nothing to do.
 */
export async function migrate(pool: pg.Pool, dir = migrationsDir()): Promise<void> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (e) {
    throw classifyPgError(e);
  }
  // A migration on a big table, or waiting for another replica's, may outlast a query's
  // budget: these statements get a longer one, on the server and in the client alike.
  const run = (text: string, values: unknown[] = []) =>
    client.query({ text, values, query_timeout: MIGRATION_TIMEOUT_MS + 5_000 } as pg.QueryConfig);
  try {
    await run(`SET statement_timeout = ${MIGRATION_TIMEOUT_MS}`);
    await run('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await run(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)',
      );
      const applied = new Set(
        ((await run('SELECT version FROM schema_migrations')).rows as { version: number }[]).map(
          (r) => r.version,
        ),
      );
      const files = readdirSync(dir)
        .filter((f) => /^\d{4}_.+\.sql$/.test(f))
        .sort();
      for (const f of files) {
        const version = Number(f.slice(0, 4));
        if (applied.has(version)) continue;
        const sql = readFileSync(join(dir, f), 'utf8');
        await run('BEGIN');
        try {
          await run(sql);
          await run('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [
            version,
            Date.now(),
          ]);
          await run('COMMIT');
        } catch (e) {
          await run('ROLLBACK');
          throw e;
        }
      }
    } finally {
      await run('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
      await run('RESET statement_timeout');
    }
  } catch (e) {
    throw classifyPgError(e);
  } finally {
    client.release();
  }
}

/** `$1, $2, …` placeholders for values pushed in order. */
export class Params {
  readonly values: unknown[] = [];
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
  list(vs: unknown[]): string {
    return vs.map((v) => this.add(v)).join(', ');
  }
}

export const json = {
  parse<T>(s: string | null): T {
    return (s === null ? null : JSON.parse(s)) as T;
  },
  str(v: unknown): string {
    return JSON.stringify(v);
  },
};
