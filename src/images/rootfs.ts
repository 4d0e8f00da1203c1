import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { Header, type HeaderData, Pax } from 'tar';
import { assertNever } from '../shared/errors.js';
import { isElf, type SharedLibrary, sharedLibraries } from './ldd.js';

interface Owner {
  uid: number;
  gid: number;
}

export type RootfsEntry =
  | ({ kind: 'dir'; path: string; mode: number } & Owner)
  | ({ kind: 'content'; path: string; mode: number; data: Buffer } & Owner)
  | { kind: 'symlink'; path: string; target: string }
  | {
      kind: 'file';
      path: string;
      mode: number;
      /** The dereferenced source: two entries with the same one become a hard link. */
      source: string;
      size: number;
      mtime: Date;
      /** What the inputs hash sees of this file. */
      fingerprint: string;
    };

export interface FileOptions {
  /** Permission bits; default: the source's, made world-readable (and world-executable if executable). */
  mode?: number;
  /**
   * Hash the content instead of size and mtime. For files rebuilt often with the same content
   * (the agent bundle); host files from packages change size or mtime when they change at all,
   * and reading 100 MB of node on every check would cost the cached rebuild its sub-second.
   */
  hashContent?: boolean;
}

export interface RootfsPlanOptions {
  /** Map /bin, /sbin, /lib, /lib64 onto /usr as Debian does; default true. */
  usrMerge?: boolean;
}

// Generated entries get a fixed time so that two builds of the same inputs write the same tar.
const EPOCH = new Date('2024-01-01T00:00:00Z');
const MERGED = ['bin', 'sbin', 'lib', 'lib64'];
const ROOT: Owner = { uid: 0, gid: 0 };

/** Permissions anyone can use: a non-root job user must run the agent and the tools. */
export function worldUsable(mode: number): number {
  const perms = mode & 0o777;
  return perms & 0o111 ? perms | 0o555 : perms | 0o444;
}

/**
 * A root filesystem described entry by entry and streamed as a tar straight from the host's
 * files, so nothing is copied to a temp dir. Adding a path again replaces the earlier entry
 * (like `cp --remove-destination`): real tools added after busybox replace its applet links
 * instead of being written through them.
 */
export class RootfsPlan {
  readonly #entries = new Map<string, RootfsEntry>();
  readonly #usrMerge: boolean;

  constructor(options: RootfsPlanOptions = {}) {
    this.#usrMerge = options.usrMerge ?? true;
    if (this.#usrMerge) {
      for (const dir of MERGED) {
        this.dir(`/usr/${dir}`);
        this.#entries.set(dir, { kind: 'symlink', path: dir, target: `usr/${dir}` });
      }
    }
  }

  /** The normalized tar path of an absolute image path (no leading slash, usr-merged). */
  normalize(path: string): string {
    const clean = posix.normalize(`/${path}`).slice(1).replace(/\/$/, '');
    if (clean === '' || clean.startsWith('..')) throw new Error(`not a path inside the image: ${path}`);
    if (this.#usrMerge) {
      const top = clean.split('/', 1)[0]!;
      if (MERGED.includes(top)) return `usr/${clean}`;
    }
    return clean;
  }

  has(path: string): boolean {
    return this.#entries.has(this.normalize(path));
  }

  dir(path: string, options: { mode?: number } & Partial<Owner> = {}): this {
    const key = this.normalize(path);
    this.#entries.set(key, { kind: 'dir', path: key, mode: options.mode ?? 0o755, ...ROOT, ...options });
    return this;
  }

  content(path: string, data: string | Buffer, options: { mode?: number } & Partial<Owner> = {}): this {
    const key = this.normalize(path);
    const buffer = typeof data === 'string' ? Buffer.from(data) : data;
    this.#entries.set(key, {
      kind: 'content',
      path: key,
      mode: options.mode ?? 0o644,
      data: buffer,
      ...ROOT,
      ...options,
    });
    return this;
  }

  symlink(path: string, target: string): this {
    const key = this.normalize(path);
    this.#entries.set(key, { kind: 'symlink', path: key, target });
    return this;
  }

  /** Copies a host file, dereferenced. */
  async file(path: string, source: string, options: FileOptions = {}): Promise<this> {
    const key = this.normalize(path);
    const real = await realpath(source);
    const info = await stat(real);
    if (!info.isFile()) throw new Error(`${source} is not a regular file`);
    const fingerprint = options.hashContent
      ? createHash('sha256')
          .update(await readFile(real))
          .digest('hex')
      : `${info.size}:${info.mtimeMs}`;
    this.#entries.set(key, {
      kind: 'file',
      path: key,
      mode: options.mode ?? worldUsable(info.mode),
      source: real,
      size: info.size,
      mtime: info.mtime,
      fingerprint,
    });
    return this;
  }

  /**
   * Copies a host binary and every library `ldd` lists for it. `placeLibrary` says where each
   * library goes; by default the path the host resolved it at, so the binary's own loader
   * (PT_INTERP) and search path find it in the image as on the host.
   */
  async executable(
    path: string,
    source: string,
    placeLibrary: (library: SharedLibrary) => string = (library) => library.path,
  ): Promise<SharedLibrary[]> {
    const libraries = await sharedLibraries(source);
    await this.file(path, source);
    await Promise.all(libraries.map((library) => this.file(placeLibrary(library), library.path)));
    return libraries;
  }

  /**
   * Copies a host directory tree. Symlinks are kept as links (git-core's 137 commands are links
   * to one binary); ELF files bring their libraries when `withLibraries` is set.
   */
  async tree(path: string, source: string, options: { withLibraries?: boolean } = {}): Promise<void> {
    const files: Array<[string, string]> = [];
    const walk = async (dest: string, src: string): Promise<void> => {
      this.dir(dest);
      const names = (await readdir(src)).sort();
      for (const name of names) {
        const from = posix.join(src, name);
        const to = posix.join(dest, name);
        const info = await lstat(from);
        if (info.isSymbolicLink()) this.symlink(to, await readlink(from));
        else if (info.isDirectory()) await walk(to, from);
        else if (info.isFile()) files.push([to, from]);
      }
    };
    await walk(path, source);
    await Promise.all(
      files.map(async ([to, from]) => {
        if (options.withLibraries && (await isElf(from))) await this.executable(to, from);
        else await this.file(to, from);
      }),
    );
  }

  /** Every entry in tar order: parents before children, missing parent directories added. */
  entries(): RootfsEntry[] {
    const all = new Map(this.#entries);
    for (const key of this.#entries.keys()) {
      let parent = posix.dirname(key);
      while (parent !== '.' && !all.has(parent)) {
        all.set(parent, { kind: 'dir', path: parent, mode: 0o755, ...ROOT });
        parent = posix.dirname(parent);
      }
    }
    return [...all.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /**
   * SHA-256 over every entry and `extra` (the image config and recipe version). What a file is
   * copied from does not count, only what it holds: two checkouts with the same agent bundle
   * share one image instead of retagging it in turn. Which files are hard links does count.
   */
  hash(extra: unknown): string {
    const h = createHash('sha256');
    h.update(JSON.stringify(extra));
    const firstOfSource = new Map<string, string>();
    for (const e of this.entries()) {
      switch (e.kind) {
        case 'dir':
          h.update(`\nd ${e.path} ${e.mode.toString(8)} ${e.uid}:${e.gid}`);
          break;
        case 'content':
          h.update(`\nc ${e.path} ${e.mode.toString(8)} ${e.uid}:${e.gid} `).update(e.data);
          break;
        case 'symlink':
          h.update(`\nl ${e.path} ${e.target}`);
          break;
        case 'file': {
          const linkedTo = firstOfSource.get(e.source);
          if (linkedTo === undefined) firstOfSource.set(e.source, e.path);
          h.update(`\nf ${e.path} ${e.mode.toString(8)} ${e.fingerprint} ${linkedTo ?? ''}`);
          break;
        }
        default:
          assertNever(e);
      }
    }
    return h.digest('hex');
  }

  /** Total bytes of file content (hard links counted once). */
  contentSize(): number {
    const seen = new Set<string>();
    let total = 0;
    for (const e of this.entries()) {
      if (e.kind === 'content') total += e.data.length;
      if (e.kind === 'file' && !seen.has(e.source)) {
        seen.add(e.source);
        total += e.size;
      }
    }
    return total;
  }

  /** The root filesystem as an uncompressed tar stream, owned by root unless an entry says otherwise. */
  tar(): Readable {
    return Readable.from(tarChunks(this.entries()), { objectMode: false });
  }
}

function headerBlocks(data: HeaderData): Buffer[] {
  const header = new Header(data);
  const needPax = header.encode();
  const blocks: Buffer[] = [];
  // Long npm paths do not fit ustar's 100+155 bytes; a PAX record carries them.
  if (needPax) blocks.push(new Pax({ path: data.path, linkpath: data.linkpath, mtime: data.mtime }).encode());
  blocks.push(header.block!);
  return blocks;
}

function padding(size: number): Buffer {
  const rest = size % 512;
  return Buffer.alloc(rest === 0 ? 0 : 512 - rest);
}

async function* tarChunks(entries: RootfsEntry[]): AsyncGenerator<Buffer> {
  const written = new Map<string, string>();
  for (const e of entries) {
    switch (e.kind) {
      case 'dir':
        yield* headerBlocks({
          path: `${e.path}/`,
          type: 'Directory',
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          size: 0,
          mtime: EPOCH,
        });
        break;
      case 'symlink':
        yield* headerBlocks({
          path: e.path,
          type: 'SymbolicLink',
          linkpath: e.target,
          mode: 0o777,
          uid: 0,
          gid: 0,
          size: 0,
          mtime: EPOCH,
        });
        break;
      case 'content':
        yield* headerBlocks({
          path: e.path,
          type: 'File',
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          size: e.data.length,
          mtime: EPOCH,
        });
        yield e.data;
        yield padding(e.data.length);
        break;
      case 'file': {
        const first = written.get(e.source);
        if (first !== undefined) {
          yield* headerBlocks({
            path: e.path,
            type: 'Link',
            linkpath: first,
            mode: e.mode,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: e.mtime,
          });
          break;
        }
        written.set(e.source, e.path);
        yield* headerBlocks({
          path: e.path,
          type: 'File',
          mode: e.mode,
          uid: 0,
          gid: 0,
          size: e.size,
          mtime: e.mtime,
        });
        let sent = 0;
        for await (const chunk of createReadStream(e.source)) {
          const buffer = chunk as Buffer;
          sent += buffer.length;
          if (sent > e.size) break;
          yield buffer;
        }
        // A file that changed size since it was planned would shift every later entry.
        if (sent !== e.size) throw new Error(`${e.source} changed while the image was being built`);
        yield padding(e.size);
        break;
      }
      default:
        assertNever(e);
    }
  }
  yield Buffer.alloc(1024);
}
