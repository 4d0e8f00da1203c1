import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { type FileHandle, link, mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { newId } from '../shared/ids.js';
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

export interface LocalDiskBlobStoreOptions {
  /** The folder blobs live in (created 0700); it belongs to one process, as the data directory does. */
  root: string;
}

/**
 * Each blob is one file at `<root>/<key>`: a 128-byte text header
 * (`slipway-blob 1 sha256=<hex> size=<n>`) and then the content. One file keeps the checksum
 * and the bytes it covers together: written under `<root>/.tmp/`, synced, then renamed (or
 * hard-linked, for `ifExists: 'fail'`) into place, so a crash leaves no half blob, only a
 * temporary file that the next start removes.
 */
export class LocalDiskBlobStore implements BlobStore {
  private readonly root: string;
  private readonly tmpDir: string;
  private ready?: Promise<void>;

  constructor(options: LocalDiskBlobStoreOptions) {
    this.root = resolve(options.root);
    this.tmpDir = join(this.root, '.tmp');
  }

  async put(key: string, content: Readable | Buffer, options: PutBlobOptions = {}): Promise<BlobInfo> {
    const file = this.file(key);
    await this.prepare();
    if (options.ifExists === 'fail' && (await this.stat(key).catch(() => true))) {
      throw new BlobExistsError(key);
    }
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const tmp = join(this.tmpDir, newId());
    let placed = false;
    try {
      const hash = createHash('sha256');
      let size = 0;
      const max = options.maxBytes ?? Number.POSITIVE_INFINITY;
      const meter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          size += chunk.length;
          if (size > max) return done(new BlobTooLargeError(key, max));
          hash.update(chunk);
          done(null, chunk);
        },
      });
      const source = Buffer.isBuffer(content) ? Readable.from([content]) : content;
      // The content after room for the header, which is known only once the content is.
      await pipeline(
        source,
        meter,
        createWriteStream(tmp, { flags: 'wx', mode: 0o600, start: HEADER_BYTES }),
      );
      const sha256 = hash.digest('hex');
      if (options.sha256 !== undefined && options.sha256 !== sha256) {
        throw new BlobChecksumError(key, options.sha256, sha256);
      }
      const fh = await open(tmp, 'r+');
      try {
        await fh.write(header(sha256, size), 0, HEADER_BYTES, 0);
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (options.ifExists === 'fail') {
        // link() fails when the name exists: of two racing puts exactly one wins.
        await link(tmp, file).catch((error: NodeJS.ErrnoException) => {
          throw error.code === 'EEXIST' ? new BlobExistsError(key) : error;
        });
      } else {
        await rename(tmp, file);
        placed = true;
      }
      return { key, size, sha256 };
    } finally {
      if (!placed) await rm(tmp, { force: true });
    }
  }

  async get(key: string): Promise<Readable | undefined> {
    const fh = await this.openBlob(key);
    if (!fh) return undefined;
    let info: BlobInfo;
    try {
      info = await readHeader(fh, key);
    } catch (error) {
      await fh.close();
      throw error;
    }
    const verify = verifier(info);
    // pipeline destroys both on an error either side, which closes the file (autoClose).
    void pipeline(fh.createReadStream({ start: HEADER_BYTES }), verify).catch(() => undefined);
    return verify;
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    const fh = await this.openBlob(key);
    if (!fh) return undefined;
    try {
      return await readHeader(fh, key);
    } finally {
      await fh.close();
    }
  }

  async list(prefix: string): Promise<BlobInfo[]> {
    checkBlobPrefix(prefix);
    const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const keys: string[] = [];
    const walk = async (rel: string) => {
      const entries = await readdir(join(this.root, rel), { withFileTypes: true }).catch(
        () => [] as Awaited<ReturnType<typeof readdir>>,
      );
      for (const entry of entries as { name: string; isFile(): boolean; isDirectory(): boolean }[]) {
        // Hidden names are never keys: `.tmp` holds writes in progress.
        if (entry.name.startsWith('.')) continue;
        const key = rel + entry.name;
        if (entry.isDirectory()) await walk(`${key}/`);
        else if (entry.isFile() && key.startsWith(prefix)) keys.push(key);
      }
    };
    await walk(folder);
    const out: BlobInfo[] = [];
    for (const key of keys.sort()) {
      const info = await this.stat(key);
      if (info) out.push(info);
    }
    return out;
  }

  async delete(key: string): Promise<boolean> {
    const file = this.file(key);
    try {
      await unlink(file);
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  private file(key: string): string {
    checkBlobKey(key);
    const file = join(this.root, key);
    // checkBlobKey already rules out `..`; this keeps a mistake there from reaching outside.
    if (!file.startsWith(this.root + sep)) throw new Error(`blob key ${key} leaves the blob folder`);
    return file;
  }

  private async openBlob(key: string): Promise<FileHandle | undefined> {
    const file = this.file(key);
    try {
      return await open(file, 'r');
    } catch (error) {
      if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
      throw error;
    }
  }

  /** Once per store: the folders, and no temporary files left by a process that crashed. */
  private prepare(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.root, { recursive: true, mode: 0o700 });
      await rm(this.tmpDir, { recursive: true, force: true });
      await mkdir(this.tmpDir, { mode: 0o700 });
    })();
    return this.ready;
  }
}

const HEADER_BYTES = 128;
const HEADER = /^slipway-blob 1 sha256=([0-9a-f]{64}) size=(\d+) *\n$/;

function header(sha256: string, size: number): Buffer {
  const text = `slipway-blob 1 sha256=${sha256} size=${size}`;
  return Buffer.from(`${text.padEnd(HEADER_BYTES - 1, ' ')}\n`, 'latin1');
}

async function readHeader(fh: FileHandle, key: string): Promise<BlobInfo> {
  const buf = Buffer.alloc(HEADER_BYTES);
  const { bytesRead } = await fh.read(buf, 0, HEADER_BYTES, 0);
  const m = HEADER.exec(buf.subarray(0, bytesRead).toString('latin1'));
  if (!m) throw new BlobCorruptError(key, 'its header is missing or damaged');
  const info = { key, size: Number(m[2]), sha256: m[1]! };
  const { size: fileSize } = await fh.stat();
  if (fileSize !== HEADER_BYTES + info.size) {
    throw new BlobCorruptError(key, `${fileSize - HEADER_BYTES} bytes on disk, ${info.size} recorded`);
  }
  return info;
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
