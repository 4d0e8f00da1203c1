import { z } from 'zod';
import type { AnyTask } from './types.js';

/** Azure's booleans are strings: `true`/`false` in any case; absent or empty is the default. */
export function flag(defaultValue: boolean) {
  return z
    .string()
    .optional()
    .transform((v, ctx) => {
      const text = (v ?? '').trim().toLowerCase();
      if (text === '') return defaultValue;
      if (text === 'true' || text === 'false') return text === 'true';
      ctx.addIssue({ code: 'custom', message: `must be true or false, found '${v}'` });
      return z.NEVER;
    });
}

/** Free text; absent or empty is `defaultValue`. */
export function text(defaultValue = '') {
  return z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? defaultValue : v));
}

/** Text that must be given. */
export function required() {
  return z
    .string({ error: 'is required' })
    .refine((v) => v.trim() !== '', { message: 'is required' })
    .transform((v) => v.trim());
}

/** One of `values`, compared case-insensitively, returned as spelled here; absent is `defaultValue`. */
export function choice<const T extends readonly [string, ...string[]]>(values: T, defaultValue: T[number]) {
  return z
    .string()
    .optional()
    .transform((v, ctx): T[number] => {
      const text = (v ?? '').trim();
      if (text === '') return defaultValue;
      const found = values.find((c) => c.toLowerCase() === text.toLowerCase());
      if (found !== undefined) return found;
      ctx.addIssue({ code: 'custom', message: `must be one of ${values.join(', ')}, found '${v}'` });
      return z.NEVER;
    });
}

/** Lines of a multi-line input (patterns, arguments), blank lines and surrounding space dropped. */
export function lines(defaultValue: string) {
  return text(defaultValue).transform((v) =>
    v
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== ''),
  );
}

/**
 * Inputs as written → input names as the task declares them: names compare case-insensitively
 * (as in Azure), aliases map to their input. Unknown names are returned apart.
 */
export function normalizeInputs(
  task: AnyTask,
  raw: Readonly<Record<string, string>>,
): { inputs: Record<string, string>; unknown: string[] } {
  const names = Object.keys(task.inputs.shape);
  const byLower = new Map(names.map((n) => [n.toLowerCase(), n]));
  for (const [alias, name] of Object.entries(task.aliases ?? {})) byLower.set(alias.toLowerCase(), name);
  const inputs: Record<string, string> = {};
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const name = byLower.get(key.toLowerCase());
    if (name === undefined) unknown.push(key);
    else inputs[name] = value;
  }
  return { inputs, unknown };
}

/** A zod failure as one line per input: `input 'x' must be true or false, found 'yes'`. */
export function describeInputIssues(
  issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>,
): string[] {
  return issues.map((i) => {
    const name = String(i.path[0] ?? '');
    return name ? `input '${name}' ${i.message}` : i.message;
  });
}

/** A value that uses a `$(macro)`: only the agent knows what it becomes. */
export const HAS_MACRO = /\$\([^)]+\)/;
