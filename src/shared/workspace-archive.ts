import { execFile } from 'node:child_process';
import { lstat, mkdir, readdir, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { create, Parser, type ReadEntry, Unpack } from 'tar';
import { ValidationError } from './errors.js';

const execFileAsync = promisify(execFile);

const MiB = 1024 * 1024;

/** Default limit on the uncompressed size of an uploaded workspace. */
export const DEFAULT_PACK_MAX_BYTES = 512 * MiB;

/** Default limit on the bytes written when extracting a workspace. */
export const DEFAULT_EXTRACT_MAX_BYTES = 1024 * MiB;

/**
 * Never uploaded, even when git does not ignore them: `.slipway/` holds the local server's data,
 * admin token included, and a job must never be able to read that.
 */
const ALWAYS_SKIPPED = new Set(['.git', '.slipway']);

/** Also skipped outside git, where no `.gitignore` says so. */
const SKIPPED_WITHOUT_GIT = new Set([...ALWAYS_SKIPPED, 'node_modules']);

/** Symlink hops followed before a chain is treated as escaping, like the kernel's ELOOP. */
const MAX_SYMLINK_HOPS = 40;

export interface PackWorkspaceOptions {
  /** Largest total size of the files, uncompressed, in bytes. Default 512 MiB. */
  maxBytes?: number;
  /** Pack exactly these files (relative POSIX paths) instead of the workspace's listing. */
  files?: string[];
}

export interface ExtractWorkspaceOptions {
  /** Largest total size of the extracted files, in bytes. Default 1 GiB. */
  maxBytes?: number;
  /** What the archive is, as errors name it. Default 'workspace'. */
  what?: ArchiveKind;
}

export type ArchiveKind = 'workspace' | 'artifact' | 'cache';

export interface ExtractWorkspaceResult {
  /** Entries written that are not directories: files, symlinks and hardlinks. */
  files: number;
  /** Total size of the regular files written. */
  bytes: number;
}

/**
 * The files of the workspace at `dir`, as sorted relative POSIX paths. Inside a git work tree,
 * what git tracks plus untracked files it does not ignore, so what `.gitignore` keeps out
 * (`.env`, build output) stays home; elsewhere every file except under `.git`, `node_modules`
 * and `.slipway`. `.slipway` is left out inside git too. Symlinks are listed, never followed.
 */
export async function listWorkspaceFiles(dir: string): Promise<string[]> {
  const root = path.resolve(dir);
  if (!(await stat(root).catch(() => undefined))?.isDirectory()) {
    throw new ValidationError(`the workspace directory ${root} does not exist or is not a directory`);
  }
  const gitFiles = await listGitFiles(root);
  const files = gitFiles ?? (await walk(root, ''));
  return files.filter((file) => !file.split('/').some((segment) => ALWAYS_SKIPPED.has(segment))).sort();
}

async function listGitFiles(root: string): Promise<string[] | undefined> {
  let inside: string;
  try {
    const { stdout } = await execFileAsync('git', ['rev-parse', '--is-inside-work-tree'], { cwd: root });
    inside = stdout.trim();
  } catch (error) {
    // Walking the tree instead would upload every file git ignores, secrets included, so a
    // checkout whose git we cannot ask is an error rather than a silent fallback.
    const gitDir = await findGitDir(root);
    if (gitDir === undefined) return undefined;
    throw new ValidationError(
      `${root} is inside the git repository at ${gitDir}, but git could not list its files: ${errorText(error)}`,
      { cause: error },
    );
  }
  if (inside !== 'true') return undefined;

  const { stdout } = await execFileAsync(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    { cwd: root, maxBuffer: 1024 * MiB, encoding: 'buffer' },
  );
  // A path listed more than once is a merge conflict; one in the index but not on disk was
  // deleted; a directory is a submodule, whose files are not part of this checkout.
  const listed = [...new Set(stdout.toString('utf8').split('\0'))].filter((file) => file !== '');
  const files: string[] = [];
  for (const file of listed) {
    const stats = await lstat(path.join(root, file)).catch(() => undefined);
    if (stats?.isFile() || stats?.isSymbolicLink()) files.push(file);
  }
  return files;
}

/** The nearest enclosing checkout: a `.git` directory with a HEAD, or a worktree's `.git` file. */
async function findGitDir(start: string): Promise<string | undefined> {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const dotGit = await stat(path.join(dir, '.git')).catch(() => undefined);
    if (dotGit?.isFile() || (dotGit?.isDirectory() && (await exists(path.join(dir, '.git', 'HEAD'))))) {
      return dir;
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

async function exists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined)) !== undefined;
}

/** Every file below `dir`, nothing skipped (pipeline artifacts are what the job made). */
export async function listAllFiles(dir: string): Promise<string[]> {
  return (await walk(path.resolve(dir), '', new Set())).sort();
}

async function walk(
  root: string,
  relative: string,
  skipped: ReadonlySet<string> = SKIPPED_WITHOUT_GIT,
): Promise<string[]> {
  const files: string[] = [];
  const entries = await readdir(path.join(root, relative), { withFileTypes: true });
  for (const entry of entries) {
    if (skipped.has(entry.name)) continue;
    const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await walk(root, child, skipped)));
    else if (entry.isFile() || entry.isSymbolicLink()) files.push(child);
  }
  return files;
}

/** A gzip tar of the workspace's files (see `listWorkspaceFiles`), for upload. */
export async function packWorkspace(dir: string, opts: PackWorkspaceOptions = {}): Promise<Buffer> {
  const maxBytes = opts.maxBytes ?? DEFAULT_PACK_MAX_BYTES;
  const root = path.resolve(dir);
  const files = opts.files ?? (await listWorkspaceFiles(root));
  let total = 0;
  for (const file of files) {
    const stats = await lstat(path.join(root, file));
    if (stats.isFile()) total += stats.size;
    if (total > maxBytes) {
      throw new ValidationError(
        `the workspace ${root} is larger than the limit of ${formatBytes(maxBytes)} (uncompressed); ` +
          'ignore large files in .gitignore or run from a smaller directory',
      );
    }
  }
  // node-tar reads `@name` as "add the entries of the archive `name`", so every path gets a
  // `./`. An empty workspace still needs one entry, or the archive reads as no tar at all.
  const paths = files.length > 0 ? files.map((file) => `./${file}`) : ['.'];
  const pack = create({ cwd: root, gzip: true, portable: true, strict: true, noDirRecurse: true }, paths);
  return pack.concat();
}

/**
 * Extracts a workspace archive into `destDir`, refusing anything that could write outside it:
 * absolute paths, `..` segments, symlinks and hardlinks that resolve outside, entries under a
 * symlink, devices and FIFOs. node-tar would strip or skip some of these with a warning; they
 * are rejected outright here, because an archive that contains them is not one we made.
 * `destDir` should be new or empty: symlinks already in it are not taken into account.
 */
export async function extractWorkspace(
  archive: Buffer | Readable,
  destDir: string,
  opts: ExtractWorkspaceOptions = {},
): Promise<ExtractWorkspaceResult> {
  const what = opts.what ?? 'workspace';
  const guard = new EntryGuard(path.resolve(destDir), opts.maxBytes ?? DEFAULT_EXTRACT_MAX_BYTES, what);
  await mkdir(guard.root, { recursive: true });
  let failure: unknown;
  const unpack = new Unpack({
    cwd: guard.root,
    // Any warning (a checksum failure, a path node-tar would rewrite) means a damaged or
    // hand-made archive.
    strict: true,
    // node-tar's default of 1000 refuses a workspace holding a large zero-filled file (gzip
    // reaches about 1030:1). Deflate cannot go much past that, so this admits every gzip archive
    // and still stops bombs in other codecs; `maxBytes` bounds what is written either way.
    maxDecompressionRatio: 2000,
    filter: (_path, entry) => {
      try {
        return guard.check(entry as ReadEntry);
      } catch (error) {
        failure ??= error;
        unpack.abort(new Error(`${what} archive rejected`));
        return false;
      }
    },
  });

  await new Promise<void>((resolve, reject) => {
    const fail = (error: unknown) => {
      failure ??= error;
      // Left unconsumed, so the caller can still answer (an HTTP 400) before it destroys or
      // drains the stream.
      if (!Buffer.isBuffer(archive)) archive.unpipe(unpack);
      reject(asExtractError(failure, what));
    };
    unpack.on('error', fail);
    unpack.on('close', () => (failure === undefined ? resolve() : reject(asExtractError(failure, what))));
    if (Buffer.isBuffer(archive)) {
      unpack.end(archive);
    } else {
      archive.on('error', fail);
      archive.pipe(unpack);
    }
  });
  await guard.createSymlinks();
  return { files: guard.files, bytes: guard.bytes };
}

/**
 * Reads a whole archive and applies every rule of `extractWorkspace` (into `destDir`) to it
 * without writing anything: throws the same `ValidationError` for the first entry refused. For
 * an extractor that is not node-tar (a system `tar`, many times faster on thousands of small
 * files), run on an archive that cannot change meanwhile, so what was checked is what is unpacked.
 */
export async function checkArchive(
  archive: Readable,
  destDir: string,
  opts: ExtractWorkspaceOptions = {},
): Promise<ExtractWorkspaceResult> {
  const checker = new ArchiveChecker(destDir, opts);
  for await (const chunk of archive) checker.write(chunk as Buffer);
  return checker.end();
}

/**
 * `checkArchive` fed chunk by chunk, so an archive can be checked while it is downloaded.
 * Parsing is synchronous: each `write` has checked what it was given when it returns.
 */
export class ArchiveChecker {
  private readonly guard: EntryGuard;
  private readonly parser: Parser;
  private readonly what: ArchiveKind;
  private failure: unknown;
  private readonly closed: Promise<void>;

  constructor(destDir: string, opts: ExtractWorkspaceOptions = {}) {
    this.what = opts.what ?? 'workspace';
    this.guard = new EntryGuard(path.resolve(destDir), opts.maxBytes ?? DEFAULT_EXTRACT_MAX_BYTES, this.what);
    this.parser = new Parser({
      strict: true,
      onReadEntry: (entry) => {
        if (this.failure === undefined) {
          try {
            this.guard.check(entry);
          } catch (error) {
            this.failure = error;
          }
        }
        entry.resume();
      },
    });
    this.closed = new Promise<void>((resolve) => {
      this.parser.on('error', (error) => {
        this.failure ??= error;
        resolve();
      });
      this.parser.on('close', () => resolve());
    });
  }

  write(chunk: Buffer): void {
    if (this.failure === undefined) this.parser.write(chunk);
  }

  /** The archive ended: throws what was refused, else says what it holds. */
  async end(): Promise<ExtractWorkspaceResult> {
    if (this.failure === undefined) this.parser.end();
    else this.parser.abort(new Error(`${this.what} archive rejected`));
    await this.closed;
    if (this.failure !== undefined) throw asExtractError(this.failure, this.what);
    this.guard.checkSymlinks();
    return { files: this.guard.files + this.guard.symlinkCount, bytes: this.guard.bytes };
  }
}

/**
 * Checks each entry before node-tar acts on it. Symlinks are held back and made by
 * `createSymlinks` once every file is written: then no write can pass through one, their order
 * in the archive does not matter (node-tar refuses a link whose target crosses a link it made
 * earlier), and each is checked against the complete set, since a later link can change where
 * an earlier one leads.
 */
class EntryGuard {
  files = 0;
  bytes = 0;
  /** Symlinks to make, by path under the root, with their targets, in archive order. */
  private readonly symlinks = new Map<string, string>();
  /** Every directory the archive has made or implied. */
  private readonly dirs = new Set<string>();
  /** Files and hardlinks written. */
  private readonly written = new Set<string>();

  constructor(
    readonly root: string,
    private readonly maxBytes: number,
    private readonly what: ArchiveKind = 'workspace',
  ) {}

  /** Throws when the entry is refused; returns whether node-tar should extract it. */
  check(entry: ReadEntry): boolean {
    const name = JSON.stringify(entry.path);
    if (isAbsolutePath(entry.path)) {
      throw new ValidationError(`${this.what} archive entry ${name} has an absolute path`);
    }
    const segments = splitPath(entry.path);
    if (segments.includes('..')) {
      throw new ValidationError(`${this.what} archive entry ${name} has a '..' path segment`);
    }
    const key = segments.join('/');
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join('/');
      if (this.symlinks.has(parent)) {
        throw new ValidationError(
          `${this.what} archive entry ${name} is under the symlink ${JSON.stringify(parent)}`,
        );
      }
      this.dirs.add(parent);
    }
    if (this.symlinks.has(key)) {
      throw new ValidationError(
        `${this.what} archive entry ${name} replaces a symlink earlier in the archive`,
      );
    }
    if (key === '' && entry.type !== 'Directory') {
      throw new ValidationError(
        `${this.what} archive entry ${name} would replace ${this.what === 'cache' ? 'the cache path' : 'the workspace directory'}`,
      );
    }

    switch (entry.type) {
      case 'Directory':
        this.dirs.add(key);
        return true;
      case 'File':
      case 'OldFile':
      case 'ContiguousFile':
        this.bytes += entry.size;
        if (this.bytes > this.maxBytes) {
          throw new ValidationError(
            `${this.what} archive is larger than the limit of ${formatBytes(this.maxBytes)} (at entry ${name})`,
          );
        }
        this.written.add(key);
        this.files++;
        return true;
      case 'Link': {
        const target = entry.linkpath ?? '';
        if (isAbsolutePath(target) || splitPath(target).includes('..') || !this.resolvesInside([], target)) {
          throw new ValidationError(
            `${this.what} archive entry ${name} is a hardlink to ${JSON.stringify(target)}, outside ${insideOf(this.what)}`,
          );
        }
        this.written.add(key);
        this.files++;
        return true;
      }
      case 'SymbolicLink': {
        const target = entry.linkpath ?? '';
        if (!this.resolvesInside(segments.slice(0, -1), target)) {
          throw symlinkOutside(this.what, name, target);
        }
        if (this.dirs.has(key) || this.written.has(key)) {
          throw new ValidationError(
            `${this.what} archive entry ${name} replaces an entry earlier in the archive`,
          );
        }
        this.symlinks.set(key, target);
        return false;
      }
      default:
        throw new ValidationError(
          `${this.what} archive entry ${name} is a ${entry.type} entry, which a ${this.what} archive may not contain`,
        );
    }
  }

  /** Every symlink checked against the complete set, as the kernel will follow them. */
  checkSymlinks(): void {
    for (const [key, target] of this.symlinks) {
      if (!this.resolvesInside(key.split('/').slice(0, -1), target)) {
        throw symlinkOutside(this.what, JSON.stringify(key), target);
      }
    }
  }

  /** How many symlinks the archive holds (checked, not made, by `checkArchive`). */
  get symlinkCount(): number {
    return this.symlinks.size;
  }

  async createSymlinks(): Promise<void> {
    this.checkSymlinks();
    for (const [key, target] of this.symlinks) {
      const link = path.join(this.root, ...key.split('/'));
      // No parent here is a symlink: entries under one were refused, and none replaced a directory.
      await mkdir(path.dirname(link), { recursive: true });
      await symlink(target, link);
      this.files++;
    }
  }

  /**
   * Both readings must stay inside: the plain lexical one, and the one that follows the
   * archive's own symlinks the way the kernel will (`a -> .` then `b -> a/..` is lexically
   * `b -> .` but really the parent of the workspace).
   */
  private resolvesInside(base: string[], target: string): boolean {
    return (
      this.resolve(base, target, new Map()) !== undefined &&
      this.resolve(base, target, this.symlinks) !== undefined
    );
  }

  private resolve(base: string[], target: string, symlinks: Map<string, string>): string[] | undefined {
    let stack = [...base];
    let rest = splitPath(target);
    const rebase = (link: string): boolean => {
      if (!isAbsolutePath(link)) return true;
      const relative = path.relative(this.root, path.resolve(link));
      if (relative.startsWith('..') || path.isAbsolute(relative)) return false;
      stack = [];
      rest = [...splitPath(relative), ...rest];
      return true;
    };
    if (isAbsolutePath(target)) {
      rest = [];
      if (!rebase(target)) return undefined;
    }
    let hops = 0;
    for (let segment = rest.shift(); segment !== undefined; segment = rest.shift()) {
      if (segment === '..') {
        if (stack.pop() === undefined) return undefined;
        continue;
      }
      stack.push(segment);
      const link = symlinks.get(stack.join('/'));
      if (link === undefined) continue;
      if (++hops > MAX_SYMLINK_HOPS) return undefined;
      stack.pop();
      if (isAbsolutePath(link)) {
        if (!rebase(link)) return undefined;
      } else {
        rest = [...splitPath(link), ...rest];
      }
    }
    return stack;
  }
}

function symlinkOutside(what: ArchiveKind, name: string, target: string): ValidationError {
  return new ValidationError(
    `${what} archive entry ${name} is a symlink to ${JSON.stringify(target)}, outside ${insideOf(what)}`,
  );
}

/** Where an archive's entries must stay, as errors say it. */
function insideOf(what: ArchiveKind): string {
  return what === 'cache' ? 'the cache path' : 'the workspace';
}

/** Segments of a tar path, without empty and `.` ones; a backslash counts as a separator too. */
function splitPath(p: string): string[] {
  return p.split(/[\\/]+/).filter((segment) => segment !== '' && segment !== '.');
}

function isAbsolutePath(p: string): boolean {
  return p.startsWith('/') || p.startsWith('\\') || /^[A-Za-z]:/.test(p);
}

function asExtractError(error: unknown, what: ArchiveKind): unknown {
  if (error instanceof ValidationError) return error;
  const code = (error as { code?: unknown } | undefined)?.code;
  // node-tar's own refusals (a damaged archive, extracting through a symlink) are about the
  // archive; anything else (a full disk) is not the uploader's fault and passes through.
  if (typeof code === 'string' && code.startsWith('TAR_')) {
    const entry = (error as { entry?: { path?: unknown } }).entry?.path;
    const subject =
      typeof entry === 'string' ? `${what} archive entry ${JSON.stringify(entry)}` : `${what} archive`;
    return new ValidationError(`${subject} rejected: ${errorText(error)}`, { cause: error });
  }
  return error;
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const stderr = (error as { stderr?: unknown }).stderr;
    return typeof stderr === 'string' && stderr.trim() !== '' ? stderr.trim() : error.message;
  }
  return String(error);
}

function formatBytes(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) {
    return bytes % (1024 * MiB) === 0 ? `${bytes / (1024 * MiB)} GiB` : `${bytes / MiB} MiB`;
  }
  return `${bytes} bytes`;
}
