import {
  chmodSync,
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { SlipwayError } from './errors.js';

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
  if (databaseFile) preparePrivateDatabaseFile(databaseFile);
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  return `the data directory ${dir} is readable by other users (mode ${mode.toString(8).padStart(4, '0')}); it holds the database and secret key: chmod 700 it`;
}

/** Creates a SQLite file 0600 (or makes an existing one and its -wal/-shm files 0600). */
export function preparePrivateDatabaseFile(databaseFile: string): void {
  if (!existsSync(databaseFile)) closeSync(openSync(databaseFile, 'wx', 0o600));
  else chmodSync(databaseFile, 0o600);
  for (const extra of ['-wal', '-shm']) {
    if (existsSync(databaseFile + extra)) chmodSync(databaseFile + extra, 0o600);
  }
}

// ── the lock: one server per data directory ─────────────────────────────────────────────────

/** Holds the pid of the server that uses the directory. */
export const LOCK_FILE = 'server.lock';

/** A second server on a data directory would take the first one's agents, containers and socket. */
export class DataDirInUseError extends SlipwayError {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`data directory ${dir} in use by pid ${pid}`);
  }
}

export interface DataDirLock {
  readonly dir: string;
  /** Removes the lock file; idempotent. */
  release(): void;
}

/** Lock files this process holds, removed at exit should `release` not be reached. */
const held = new Set<string>();
let exitHookInstalled = false;

/**
 * Takes the directory's lock or throws `DataDirInUseError`. A lock whose process is gone (a
 * server killed with SIGKILL) is stale and taken over, so a crash never blocks a restart.
 */
export function lockDataDir(dir: string): DataDirLock {
  const file = join(dir, LOCK_FILE);
  // Written beside the lock, then hard-linked into place: the lock appears whole or not at all.
  const draft = join(dir, `${LOCK_FILE}.${process.pid}`);
  writeFileSync(draft, `${process.pid}\n`, { mode: 0o600 });
  let taken = false;
  try {
    // Two tries: the second after removing a stale lock.
    for (let attempt = 0; attempt < 2 && !taken; attempt++) {
      try {
        linkSync(draft, file);
        taken = true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const pid = lockHolder(file);
        if (pid !== undefined) throw new DataDirInUseError(dir, pid);
        unlinkQuietly(file);
      }
    }
  } finally {
    unlinkQuietly(draft);
  }
  if (!taken) throw new DataDirInUseError(dir, lockHolder(file) ?? Number.NaN);
  held.add(file);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const f of held) unlinkQuietly(f);
    });
  }
  return {
    dir,
    release() {
      if (!held.delete(file)) return;
      unlinkQuietly(file);
    },
  };
}

/** The live process holding the lock, or undefined when the lock is stale. */
function lockHolder(file: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
  } catch {
    return undefined;
  }
  if (!(pid > 0)) return undefined;
  // Our own pid in a lock we do not hold: a previous life of a restarted container's pid 1.
  if (pid === process.pid) return held.has(file) ? pid : undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

// ── the recorded address: how the CLI finds the server of a data directory ───────────────────

/** Where the server of the directory listens, written once it does, removed when it stops. */
export const ADDRESS_FILE = 'server.json';

export interface ServerAddress {
  /** Base URL of the HTTP API. */
  url: string;
  /** Host path of the Unix socket the API is also served on, when there is one. */
  socket?: string;
}

export function recordServerAddress(dir: string, address: ServerAddress): void {
  writeFileSync(join(dir, ADDRESS_FILE), `${JSON.stringify(address)}\n`, { mode: 0o600 });
}

export function clearServerAddress(dir: string): void {
  unlinkQuietly(join(dir, ADDRESS_FILE));
}

/** The address the directory's server recorded, or undefined when none is (or it is unreadable). */
export function readServerAddress(dir: string): ServerAddress | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(dir, ADDRESS_FILE), 'utf8')) as Partial<ServerAddress>;
    if (typeof parsed.url !== 'string') return undefined;
    return { url: parsed.url, ...(typeof parsed.socket === 'string' ? { socket: parsed.socket } : {}) };
  } catch {
    return undefined;
  }
}
