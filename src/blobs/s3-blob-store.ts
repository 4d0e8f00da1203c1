import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { ValidationError } from '../shared/errors.js';
import {
  BlobChecksumError,
  BlobCorruptError,
  BlobExistsError,
  type BlobInfo,
  type BlobStore,
  BlobTooLargeError,
  checkBlobKey,
  checkBlobPrefix,
  type PutBlobOptions,
} from './blob-store.js';
import { verifier } from './verify-stream.js';

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Prepended to every key (`slipway/`), so one bucket can serve several installations. */
  prefix?: string;
  /** Where a put is spooled while its size and checksum are learnt; default the system's temp folder. */
  spoolDir?: string;
}

/** Object metadata with the content's SHA-256 and length, written by put and checked by every read. */
const SHA256_META = 'sha256';
const SIZE_META = 'size';

/**
 * Blobs in an S3-compatible bucket, for coordinator replicas that share them. A put is spooled
 * to a local file first: S3 needs the length up front, and the checksum and size limit are
 * checked before anything is sent, so a refused or interrupted put uploads nothing. A PUT of
 * a whole object is atomic in S3, so readers see the old blob or the new one. The SHA-256 rides
 * as object metadata and every read is verified against it, as on local disk.
 */
export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly spoolDir: string;
  /** Puts with `ifExists: 'fail'` in flight here; the bucket's conditional write guards across replicas. */
  private readonly creating = new Set<string>();

  constructor(options: S3BlobStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    this.spoolDir = options.spoolDir ?? tmpdir();
  }

  async put(key: string, content: Readable | Buffer, options: PutBlobOptions = {}): Promise<BlobInfo> {
    checkBlobKey(key);
    const exclusive = options.ifExists === 'fail';
    if (exclusive) {
      // Claimed before the first await, so two puts here cannot both pass the check.
      if (this.creating.has(key)) throw new BlobExistsError(key);
      this.creating.add(key);
    }
    let dir: string | undefined;
    try {
      if (exclusive && (await this.stat(key).catch(() => true))) throw new BlobExistsError(key);
      dir = await mkdtemp(join(this.spoolDir, 'slipway-s3-put-'));
      const file = join(dir, 'content');
      const { size, sha256 } = await spool(key, content, file, options.maxBytes);
      if (options.sha256 !== undefined && options.sha256 !== sha256) {
        throw new BlobChecksumError(key, options.sha256, sha256);
      }
      await this.client
        .send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: this.objectKey(key),
            Body: createReadStream(file),
            ContentLength: size,
            Metadata: { [SHA256_META]: sha256, [SIZE_META]: String(size) },
            // S3 refuses the write when the key exists (412): of two replicas, one wins.
            ...(exclusive ? { IfNoneMatch: '*' } : {}),
          }),
        )
        .catch((error: unknown) => {
          throw isStatus(error, 412) ? new BlobExistsError(key) : error;
        });
      return { key, size, sha256 };
    } finally {
      if (exclusive) this.creating.delete(key);
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  }

  async get(key: string): Promise<Readable | undefined> {
    checkBlobKey(key);
    let res: GetObjectCommandOutput;
    try {
      res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
    const body = res.Body as Readable;
    let info: BlobInfo;
    try {
      info = infoOf(key, res.Metadata, res.ContentLength);
    } catch (error) {
      body.destroy();
      throw error;
    }
    const verify = verifier(info);
    void pipeline(body, verify).catch(() => undefined);
    return verify;
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    checkBlobKey(key);
    try {
      const res = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      return infoOf(key, res.Metadata, res.ContentLength);
    } catch (error) {
      if (isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<BlobInfo[]> {
    checkBlobPrefix(prefix);
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.objectKey(prefix),
          ContinuationToken: token,
        }),
      );
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key.slice(this.prefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const out: BlobInfo[] = [];
    for (const key of keys.sort()) {
      const info = await this.stat(key).catch(() => undefined);
      if (info) out.push(info);
    }
    return out;
  }

  async delete(key: string): Promise<boolean> {
    checkBlobKey(key);
    if (!(await this.stat(key).catch(() => true))) return false;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    return true;
  }

  private objectKey(key: string): string {
    return this.prefix + key;
  }
}

/** Writes `content` to `file`, counting and hashing it; refuses more than `maxBytes`. */
async function spool(
  key: string,
  content: Readable | Buffer,
  file: string,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new BlobTooLargeError(key, maxBytes));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const source = Buffer.isBuffer(content) ? Readable.from([content]) : content;
  await pipeline(source, meter, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  return { size, sha256: hash.digest('hex') };
}

function infoOf(
  key: string,
  metadata: Record<string, string> | undefined,
  length: number | undefined,
): BlobInfo {
  const sha256 = metadata?.[SHA256_META];
  const size = Number(metadata?.[SIZE_META] ?? Number.NaN);
  if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256) || !Number.isSafeInteger(size)) {
    throw new BlobCorruptError(key, 'the object has no recorded SHA-256 (not written by Slipway?)');
  }
  if (length !== size) throw new BlobCorruptError(key, `${length} bytes stored, ${size} recorded`);
  return { key, size, sha256 };
}

function isStatus(error: unknown, status: number): boolean {
  if (error instanceof S3ServiceException) return error.$metadata.httpStatusCode === status;
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === status;
}

/**
 * `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&forcePathStyle=true]`: a bucket on AWS or any
 * S3-compatible server (MinIO, Ceph, …). Credentials come from the environment the AWS SDK
 * reads (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, a profile, or the instance's role), never
 * from the URL, so they do not end up in process listings or logs.
 */
export function s3BlobStoreFromUrl(url: string, spoolDir?: string): S3BlobStore {
  // URL() would resolve `..` away; a prefix that climbs is refused, not rewritten.
  if (/\/\.\.?(\/|\?|$)/.test(url.replace(/^s3:\/\//, '/'))) {
    throw new ValidationError(`--blobs '${url}': the prefix is not valid (no '.' or '..' segments)`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValidationError(`--blobs '${url}' is not a URL: give s3://BUCKET[/PREFIX][?endpoint=…]`);
  }
  if (parsed.protocol !== 's3:' || !parsed.hostname) {
    throw new ValidationError(`--blobs '${url}': expected s3://BUCKET[/PREFIX]`);
  }
  if (parsed.username || parsed.password) {
    throw new ValidationError(
      '--blobs: credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  }
  const known = new Set(['endpoint', 'region', 'forcePathStyle']);
  for (const name of parsed.searchParams.keys()) {
    if (!known.has(name))
      throw new ValidationError(`--blobs: unknown option '${name}' (known: ${[...known].join(', ')})`);
  }
  const endpoint = parsed.searchParams.get('endpoint') ?? undefined;
  const path = decodeURIComponent(parsed.pathname.replace(/^\/+/, ''));
  const prefix = path === '' ? '' : `${path.replace(/\/+$/, '')}/`;
  if (prefix) checkBlobPrefix(prefix);
  const client = new S3Client({
    region: parsed.searchParams.get('region') ?? process.env.AWS_REGION ?? 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: parsed.searchParams.get('forcePathStyle') === 'true' || endpoint !== undefined,
    // Checksums only where S3 requires them: S3-compatible servers differ in the newer ones,
    // and every blob carries its own SHA-256 regardless.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return new S3BlobStore({ client, bucket: parsed.hostname, prefix, ...(spoolDir ? { spoolDir } : {}) });
}
