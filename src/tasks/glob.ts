import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { listAllFiles } from '../shared/workspace-archive.js';

/**
 * Azure's file patterns (minimatch, as its `findMatch` uses them on Linux): `**` any folders,
 * `*` and `?` within one name, `[abc]` classes, `{a,b}` alternatives, names starting with a dot
 * matched too, case-sensitive. A leading `!` excludes what earlier patterns matched.
 */
export function globToRegExp(pattern: string): RegExp {
  let out = '';
  let i = 0;
  let braces = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      const atStart = i === 0 || pattern[i - 1] === '/';
      const atEnd = i + 2 === pattern.length || pattern[i + 2] === '/';
      if (atStart && atEnd) {
        // `**/` matches zero or more folders; a trailing `**` everything below.
        if (i + 2 === pattern.length) out += '.*';
        else out += '(?:[^/]*/)*';
        i += 3;
        continue;
      }
      out += '[^/]*';
      i += 2;
      continue;
    }
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) out += '\\[';
      else {
        const body = pattern.slice(i + 1, end).replace(/\\/g, '\\\\');
        out += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else if (c === '{') {
      braces++;
      out += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      out += ')';
    } else if (c === ',' && braces > 0) out += '|';
    else out += c.replace(/[.+^$()|\\]/g, '\\$&');
    i++;
  }
  return new RegExp(`^${out}$`);
}

/** Relative POSIX paths kept by `patterns` (each include adds, each `!exclude` removes), in order. */
export function matchPaths(paths: readonly string[], patterns: readonly string[]): string[] {
  const rules = patterns.map((p) =>
    p.startsWith('!')
      ? { exclude: true, re: globToRegExp(p.slice(1)) }
      : { exclude: false, re: globToRegExp(p) },
  );
  return paths.filter((path) => {
    let kept = false;
    for (const rule of rules) if (rule.re.test(path)) kept = !rule.exclude;
    return kept;
  });
}

/**
 * Files under `root` matching `patterns`: relative patterns start at `root`; an absolute one
 * inside `root` is made relative to it. Returns absolute paths, sorted.
 */
export async function findFiles(root: string, patterns: readonly string[]): Promise<string[]> {
  const base = resolve(root);
  const files = await listAllFiles(base).catch(() => [] as string[]);
  const relativePatterns = patterns.map((p) => {
    const negated = p.startsWith('!');
    const body = negated ? p.slice(1) : p;
    const rel = isAbsolute(body) ? relative(base, body) : body.replace(/^\.\//, '');
    return negated ? `!${rel}` : rel;
  });
  return matchPaths(files, relativePatterns).map((f) => resolve(base, f));
}

/**
 * Files matching `patterns` where they are: a relative pattern starts at `base`, an absolute one
 * (`$(Build.ArtifactStagingDirectory)/*.zip`) at the folder its literal part names.
 */
export async function findFilesAnywhere(base: string, patterns: readonly string[]): Promise<string[]> {
  const excludes = patterns.filter((p) => p.startsWith('!')).map((p) => `!${resolve(base, p.slice(1))}`);
  const found = new Set<string>();
  for (const p of patterns.filter((p) => !p.startsWith('!'))) {
    const absolute = resolve(base, p);
    const literal = absolute.split('/');
    const firstGlob = literal.findIndex((s) => /[*?[{]/.test(s));
    const root = firstGlob < 0 ? dirname(absolute) : literal.slice(0, firstGlob).join('/') || '/';
    for (const f of await findFiles(root, [absolute, ...excludes])) found.add(f);
  }
  return [...found].sort();
}
