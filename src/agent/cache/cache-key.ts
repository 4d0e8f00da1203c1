import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, resolve, sep } from 'node:path';

/** How one segment of a key was read, for the step's log. */
export interface KeySegment {
  /** The segment as written, macros expanded. */
  text: string;
  kind: 'string' | 'file' | 'files';
  /** What the segment became in the key: the text itself, or the hash of the files it names. */
  value: string;
  /** How many files were hashed (file and files segments). */
  files?: number;
}

export interface ResolvedKey {
  /** Segments joined by `|`, as the cache stores and matches it. */
  key: string;
  segments: KeySegment[];
}

export interface ResolveKeyOptions {
  /** Expands `$(name)` macros (without secrets: keys are stored in clear). */
  expand: (text: string) => string;
  /** Where relative paths and patterns start (Build.SourcesDirectory, as Azure's default working folder). */
  root: string;
}

/** A problem with a key the user wrote: the step fails with this message. */
export class CacheKeyError extends Error {}

/**
 * Resolves a key as Azure's Cache task does: segments split on `|` and trimmed; a segment in
 * double quotes is a string as written; a segment that looks like a path (it holds `/`, `*`,
 * `?`, `,` or a `.` that is not its last character) names files, whose contents are hashed in
 * its place (a comma-separated list of globs, `!` excluding); anything else is a string.
 * A file segment that matches no file is an error, as in Azure.
 */
export async function resolveCacheKey(key: string, o: ResolveKeyOptions): Promise<ResolvedKey> {
  const segments: KeySegment[] = [];
  for (const raw of key.split('|')) {
    const text = o.expand(raw).trim();
    if (text === '') throw new CacheKeyError(`key '${key}' has an empty segment`);
    segments.push(await resolveSegment(text, o.root));
  }
  return { key: segments.map((s) => s.value).join('|'), segments };
}

/** Whether Azure reads the segment as a path or pattern rather than a string. */
export function isPathySegment(text: string): boolean {
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) return false;
  if (/[/\\*?,]/.test(text)) return true;
  const dot = text.indexOf('.');
  return dot !== -1 && dot !== text.length - 1;
}

async function resolveSegment(text: string, root: string): Promise<KeySegment> {
  if (!isPathySegment(text)) return { text, kind: 'string', value: text };
  const patterns = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const literal = patterns.length === 1 && !/[*?[\]{}!]/.test(patterns[0]!);
  if (literal) {
    const file = resolve(root, patterns[0]!);
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile())
      throw new CacheKeyError(`key segment '${text}' names no file: ${file} does not exist`);
    return { text, kind: 'file', value: await hashFiles(root, [file]), files: 1 };
  }
  const files = await matchFiles(root, patterns);
  if (files.length === 0) throw new CacheKeyError(`key segment '${text}' matches no file under ${root}`);
  return { text, kind: 'files', value: await hashFiles(root, files), files: files.length };
}

/**
 * One hash for a set of files: each file's path (relative to `root`) and the SHA-256 of its
 * content, in path order, so renaming a file changes the key as editing it does.
 */
async function hashFiles(root: string, files: string[]): Promise<string> {
  const all = createHash('sha256');
  const sorted = files.map((f) => ({ f, rel: toPosix(relative(root, f)) })).sort((a, b) => cmp(a.rel, b.rel));
  for (const { f, rel } of sorted) {
    const one = createHash('sha256');
    for await (const chunk of createReadStream(f)) one.update(chunk as Buffer);
    all.update(`${rel}\0${one.digest('hex')}\n`);
  }
  return all.digest('hex');
}

/** Files under `root` matching any include pattern and no `!` exclude pattern. */
export async function matchFiles(root: string, patterns: string[]): Promise<string[]> {
  const includes = patterns.filter((p) => !p.startsWith('!')).map((p) => toMatcher(root, p));
  const excludes = patterns.filter((p) => p.startsWith('!')).map((p) => toMatcher(root, p.slice(1)));
  const found = new Set<string>();
  for (const inc of includes) {
    for (const file of await walkFiles(inc.base)) {
      const abs = toPosix(file);
      if (inc.re.test(abs) && !excludes.some((e) => e.re.test(abs))) found.add(file);
    }
  }
  return [...found].sort(cmp);
}

interface Matcher {
  /** The folder the pattern's fixed part names: only it is walked. */
  base: string;
  /** Matches absolute POSIX paths. */
  re: RegExp;
}

function toMatcher(root: string, pattern: string): Matcher {
  const abs = toPosix(isAbsolute(pattern) ? pattern : join(root, pattern));
  const parts = abs.split('/');
  const fixed: string[] = [];
  for (const part of parts.slice(0, -1)) {
    if (/[*?[\]{}]/.test(part)) break;
    fixed.push(part);
  }
  return { base: fixed.join('/') || '/', re: globToRegExp(posix.normalize(abs)) };
}

/** `**` any folders, `*` any characters but `/`, `?` one, `[...]` a class, `{a,b}` either. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end === -1) re += '\\[';
      else {
        re += `[${glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (ch === '{') {
      const end = glob.indexOf('}', i + 1);
      if (end === -1) re += '\\{';
      else {
        const options = glob
          .slice(i + 1, end)
          .split(',')
          .map(escapeRe);
        re += `(?:${options.join('|')})`;
        i = end;
      }
    } else re += escapeRe(ch);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(s: string): string {
  return s.replace(/[.+^$()|\\{}[\]*?]/g, '\\$&');
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walkFiles(path)));
    else if (e.isFile()) out.push(path);
  }
  return out;
}

function toPosix(p: string): string {
  return sep === '/' ? p : p.split(sep).join('/');
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
