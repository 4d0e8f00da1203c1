import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';

/** Layout of the server's data directory, shared by the server (writes) and the CLI (reads). */
export const DEFAULT_DATA_DIR = '.slipway';
export const ADMIN_TOKEN_FILE = 'admin.token';
export const DEFAULT_PORT = 8420;

/**
 * Makes the data directory private: created 0700, and the database file made 0600 before SQLite
 * opens it (SQLite gives its -wal and -shm files the database file's mode). Answers a warning
 * when an existing directory can be read by others, which is left to its owner to fix.
 */
export function preparePrivateDataDir(dir: string, databaseFile?: string): string | undefined {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (databaseFile) {
    if (!existsSync(databaseFile)) closeSync(openSync(databaseFile, 'wx', 0o600));
    else chmodSync(databaseFile, 0o600);
    for (const extra of ['-wal', '-shm']) {
      if (existsSync(databaseFile + extra)) chmodSync(databaseFile + extra, 0o600);
    }
  }
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  return `the data directory ${dir} is readable by other users (mode ${mode.toString(8).padStart(4, '0')}); it holds the database and secret key: chmod 700 it`;
}
