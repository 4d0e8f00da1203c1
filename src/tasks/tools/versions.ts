/**
 * Version specs as the tool tasks take them: `3`, `3.x`, `3.11`, `3.11.x`, `3.11.4` (a prefix,
 * `x` or `*` for any part), `>=3.8`, `>3.8`, `<=`, `<`, `^3.8` (same major), `~3.8` (same
 * minor), `latest`/`*`/`x` (anything); several separated by spaces must all hold.
 */
export function parseVersion(text: string): number[] | undefined {
  const m = /^v?(\d+(?:\.\d+)*)/.exec(text.trim());
  return m?.[1] ? m[1].split('.').map(Number) : undefined;
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function matchesOne(version: number[], spec: string): boolean | undefined {
  if (spec === '' || spec === '*' || spec === 'x' || spec.toLowerCase() === 'latest') return true;
  const op = /^(>=|<=|>|<|\^|~|=)?\s*v?(\d+(?:\.(?:\d+|x|\*))*)$/i.exec(spec);
  if (!op?.[2]) return undefined;
  // A wildcard part ends the comparison where it stands: `3.x` is `3`.
  const parts = op[2].split('.');
  const end = parts.findIndex((p) => !/^\d+$/.test(p));
  const fixed = (end < 0 ? parts : parts.slice(0, end)).map(Number);
  switch (op[1]) {
    case '>=':
      return compare(version, fixed) >= 0;
    case '>':
      return compare(version, fixed) > 0;
    case '<=':
      return compare(version, fixed) <= 0;
    case '<':
      return compare(version, fixed) < 0;
    case '^':
      return version[0] === fixed[0] && compare(version, fixed) >= 0;
    case '~':
      return (
        version[0] === fixed[0] && version[1] === (fixed[1] ?? version[1]) && compare(version, fixed) >= 0
      );
    default:
      // A prefix: `3.11` matches 3.11.4.
      return fixed.every((n, i) => version[i] === n);
  }
}

/** Whether `version` satisfies `spec`; undefined when the spec cannot be read. */
export function satisfies(version: string, spec: string): boolean | undefined {
  const v = parseVersion(version);
  if (!v) return false;
  let all = true;
  for (const part of spec.trim().split(/\s+/)) {
    const one = matchesOne(v, part);
    if (one === undefined) return undefined;
    all &&= one;
  }
  return all;
}

/** Whether the spec can be read at all. */
export function isVersionSpec(spec: string): boolean {
  return satisfies('0', spec) !== undefined;
}

/** The highest of `versions` that satisfies `spec`. */
export function highestMatch(versions: readonly string[], spec: string): string | undefined {
  return versions
    .filter((v) => satisfies(v, spec) === true)
    .sort((a, b) => compare(parseVersion(b) ?? [], parseVersion(a) ?? []))[0];
}
