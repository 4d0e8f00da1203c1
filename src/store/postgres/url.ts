import { ValidationError } from '../../shared/errors.js';

/** Where a store is chosen; named in every refusal, which never echoes the URL (it may hold a password). */
const DATABASE_FLAG = '--database (SLIPWAY_DATABASE)';

/** Settings read from the URL's query string (they are removed before pg sees the URL). */
export interface PgStoreOptions {
  /** Connections kept at most (`pool_max`); default 10. */
  poolMax: number;
  /** Longest a statement may run before the server cancels it (`statement_timeout_ms`); default 30000. */
  statementTimeoutMs: number;
  /** Longest to wait for a connection, new or from the pool (`connect_timeout_ms`); default 10000. */
  connectTimeoutMs: number;
}

const OPTION_KEYS = {
  pool_max: 'poolMax',
  statement_timeout_ms: 'statementTimeoutMs',
  connect_timeout_ms: 'connectTimeoutMs',
} as const satisfies Record<string, keyof PgStoreOptions>;

export const DEFAULT_PG_OPTIONS: PgStoreOptions = {
  poolMax: 10,
  statementTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
};

/**
 * Splits a `postgres://` URL into what pg connects with and Slipway's own options. Throws
 * `ValidationError` naming the option, never echoing the URL.
 */
export function parsePgUrl(url: string): { connectionString: string; options: PgStoreOptions } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValidationError(
      `${DATABASE_FLAG}: not a valid postgres:// URL (postgres://user:pass@host:port/db)`,
    );
  }
  if (!parsed.hostname && !parsed.searchParams.has('host')) {
    throw new ValidationError(
      `${DATABASE_FLAG}: a postgres:// URL needs a host (postgres://user:pass@host:port/db)`,
    );
  }
  const options = { ...DEFAULT_PG_OPTIONS };
  for (const [key, field] of Object.entries(OPTION_KEYS)) {
    const raw = parsed.searchParams.get(key);
    if (raw === null) continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) {
      throw new ValidationError(`${DATABASE_FLAG}: ${key} must be a positive whole number`);
    }
    options[field] = n;
    parsed.searchParams.delete(key);
  }
  return { connectionString: parsed.toString(), options };
}
