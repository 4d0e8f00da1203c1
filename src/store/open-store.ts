import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { preparePrivateDatabaseFile } from '../shared/data-dir.js';
import { ValidationError } from '../shared/errors.js';
import { parsePgUrl } from './postgres/url.js';
import type { Store } from './types.js';

/** Where a store is chosen: named in every refusal so a user knows what to change. */
export const DATABASE_FLAG = '--database (SLIPWAY_DATABASE)';

export interface OpenStoreOptions {
  /** Relative paths in the URL are resolved from here; default: the current directory. */
  cwd?: string;
}

/**
 * One kind of store, keyed by its URL scheme. `location` is the URL without `scheme:`; a
 * backend checks it in `check` (before anything starts) and opens it in `open`.
 */
interface StoreBackend {
  check(location: string): void;
  open(location: string, options: Required<OpenStoreOptions>): Promise<Store>;
}

/** `sqlite:<path>` or `sqlite://<absolute path>`: the embedded store, one file and its -wal. */
const sqlite: StoreBackend = {
  check(location) {
    sqlitePath(location, '.');
  },
  async open(location, { cwd }) {
    const file = sqlitePath(location, cwd);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // Before SQLite opens it: its -wal and -shm files take the database file's mode.
    preparePrivateDatabaseFile(file);
    const { SqliteStore } = await import('./sqlite/sqlite-store.js');
    return new SqliteStore(file);
  },
};

/**
 * `postgres://user:pass@host:port/db?pool_max=10&statement_timeout_ms=30000&connect_timeout_ms=10000`:
 * the shared store, for several coordinators. pg's own parameters (sslmode, …) pass through.
 */
const postgres: StoreBackend = {
  check(location) {
    parsePgUrl(`postgres:${location}`);
  },
  async open(location) {
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    return PostgresStore.open(`postgres:${location}`);
  },
};

/**
 * The stores a URL can name. A new backend is one folder beside `sqlite/` and one entry here;
 * nothing else in the server changes.
 */
const BACKENDS: Record<string, StoreBackend> = { sqlite, postgres, postgresql: postgres };

/** Schemes people will try that are planned, with when they arrive. */
const PLANNED: Record<string, string> = {};

/**
 * Checks a store URL without opening anything, so a bad one is refused before a server
 * touches its data directory or Docker. Throws `ValidationError` (the CLI exits 2).
 */
export function checkStoreUrl(url: string): void {
  const { backend, location } = parseStoreUrl(url);
  backend.check(location);
}

/** Opens the store a URL names: `sqlite:<path>` or `postgres://…`. */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const { backend, location } = parseStoreUrl(url);
  return backend.open(location, { cwd: options.cwd ?? process.cwd() });
}

/** The default store of a data directory. */
export function defaultStoreUrl(dataDir: string): string {
  return `sqlite:${resolve(dataDir, 'slipway.db')}`;
}

function parseStoreUrl(url: string): { backend: StoreBackend; location: string } {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(url.trim());
  // Never echo the URL itself: a database URL may hold a password.
  if (!match) {
    throw new ValidationError(
      `${DATABASE_FLAG}: expected a URL such as sqlite:<path> (default sqlite:<data>/slipway.db)`,
    );
  }
  const scheme = match[1]!.toLowerCase();
  const backend = BACKENDS[scheme];
  if (!backend) {
    const planned = PLANNED[scheme];
    throw new ValidationError(
      `${DATABASE_FLAG}: '${scheme}:' databases are not supported yet${planned ? `; ${planned}` : ''}. ` +
        `Supported: ${Object.keys(BACKENDS)
          .map((s) => (s === 'sqlite' ? 'sqlite:<path>' : `${s}://…`))
          .join(', ')} (default sqlite:<data>/slipway.db)`,
    );
  }
  return { backend, location: match[2]! };
}

function sqlitePath(location: string, cwd: string): string {
  let path = location;
  if (path.startsWith('//')) {
    // The URL form: sqlite:///abs/path.db (an empty host); a host is not something SQLite has.
    path = path.slice(2);
    if (!path.startsWith('/')) {
      throw new ValidationError(
        `${DATABASE_FLAG}: sqlite:// takes an absolute path (sqlite:///path/to/file.db)`,
      );
    }
  }
  if (path === '' || path.endsWith('/')) {
    throw new ValidationError(`${DATABASE_FLAG}: sqlite: needs a file path, e.g. sqlite:.slipway/slipway.db`);
  }
  if (path.includes('?') || path === ':memory:') {
    throw new ValidationError(`${DATABASE_FLAG}: sqlite: takes a plain file path (no query, no :memory:)`);
  }
  return resolve(cwd, path);
}
