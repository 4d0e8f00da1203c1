import type { Readable } from 'node:stream';
import { ConflictError, SlipwayError, ValidationError } from '../shared/errors.js';

/**
 * Bytes the coordinator keeps outside its database: workspaces, artifacts, and soon caches and
 * archived logs. Keys are paths of plain segments (`artifacts/<run>/<name>.tar.gz`). Every
 * implementation streams both ways (a blob is never held whole in memory), records a SHA-256
 * while writing and verifies it while reading, and makes a blob appear whole or not at all.
 * Local disk now (`LocalDiskBlobStore`); an S3-compatible one for replicas goes beside it and
 * is chosen where the server is composed. `blob-store.contract.ts` is what each must pass.
 */
export interface BlobStore {
  /**
   * Stores `content` under `key`, replacing what was there unless `ifExists: 'fail'`. Readers
   * see the old blob or the new one, never part of one; a failed or interrupted put leaves
   * nothing behind.
   */
  put(key: string, content: Readable | Buffer, options?: PutBlobOptions): Promise<BlobInfo>;
  /**
   * The blob's content as a stream, or undefined when there is none. The stream fails with
   * `BlobCorruptError` rather than end when the bytes read do not match the recorded checksum;
   * the last bytes are held back until they are checked.
   */
  get(key: string): Promise<Readable | undefined>;
  /** Size and checksum, without reading the content; undefined when there is no such blob. */
  stat(key: string): Promise<BlobInfo | undefined>;
  /** Every blob whose key starts with `prefix` (a folder such as `artifacts/r1/`), sorted by key. */
  list(prefix: string): Promise<BlobInfo[]>;
  /** Removes the blob; answers whether there was one. */
  delete(key: string): Promise<boolean>;
}

export interface BlobInfo {
  key: string;
  /** Content length in bytes. */
  size: number;
  /** SHA-256 of the content, lowercase hex. */
  sha256: string;
}

export interface PutBlobOptions {
  /** Largest content accepted; a longer stream fails with `BlobTooLargeError` and stores nothing. Default: no limit. */
  maxBytes?: number;
  /** The checksum the content must have (content-addressed keys); else `BlobChecksumError` and nothing is stored. */
  sha256?: string;
  /** `'replace'` (default) or `'fail'`: an existing blob makes the put fail with `BlobExistsError`, atomically. */
  ifExists?: 'replace' | 'fail';
}

/** A key with an empty, hidden (`.x`, `..`) or unusual segment, or too long. */
export class InvalidBlobKeyError extends ValidationError {
  constructor(readonly key: string) {
    super(
      `blob key '${key}' is not valid: segments of letters, digits, '.', '_' and '-', not starting with '.'`,
    );
  }
}

export class BlobTooLargeError extends ValidationError {
  override readonly code = 'too_large';
  constructor(
    readonly key: string,
    readonly maxBytes: number,
  ) {
    super(`blob ${key} is larger than ${maxBytes} bytes`);
  }
}

/** The content of a put does not have the checksum the caller said it has. */
export class BlobChecksumError extends ValidationError {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`blob ${key}: content has SHA-256 ${actual}, expected ${expected}`);
  }
}

export class BlobExistsError extends ConflictError {
  constructor(readonly key: string) {
    super(`blob ${key} exists already`);
  }
}

/** What was stored is not what is read back (disk damage, a truncated or edited file). */
export class BlobCorruptError extends SlipwayError {
  override readonly code = 'blob_corrupt';
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`blob ${key} is corrupt: ${detail}`);
  }
}

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;

/** Throws `InvalidBlobKeyError` unless `key` is a safe relative path: no `..`, no `/x`, no `a//b`. */
export function checkBlobKey(key: string): void {
  if (key.length === 0 || key.length > 1024 || !key.split('/').every((s) => SEGMENT.test(s))) {
    throw new InvalidBlobKeyError(key);
  }
}

/** A listing prefix is a key, a key followed by `/`, or empty (everything). */
export function checkBlobPrefix(prefix: string): void {
  if (prefix === '') return;
  checkBlobKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
}
