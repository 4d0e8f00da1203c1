/** `$(name)`: letters, digits, `.`, `_` and `-`, as Azure Pipelines macro syntax allows. */
const MACRO = /\$\(([A-Za-z0-9._-]+)\)/g;

/**
 * Replaces each `$(name)` whose name the lookup knows. Unknown macros stay as written, as in
 * Azure Pipelines, so a script's own `$(command)` substitution still reaches the shell. One
 * pass: a value that itself contains `$(x)` is not expanded again.
 */
export function expandMacros(text: string, lookup: (name: string) => string | undefined): string {
  return text.replace(MACRO, (macro, name: string) => lookup(name) ?? macro);
}

/** The longest a variable's value grows by expanding the macros in it. */
export const MAX_EXPANDED_VALUE = 1024 * 1024;

/**
 * Variable values with the macros in them expanded, as the Azure agent does before a job's
 * first step: `C: '$(G)/c'` becomes `hello/c` when `G` is `hello`, whichever of the two comes
 * first, and `$(System.DefaultWorkingDirectory)` the job's folder when `variables` holds the
 * predefined ones. A macro naming no variable stays as written; a cycle (`A: $(B)`, `B: $(A)`)
 * leaves the macro that closes it as written. Secrets are not in `variables`, so a value never
 * takes one in.
 */
export function expandVariables(variables: Record<string, string>): Record<string, string> {
  const raw = new Map(Object.entries(variables).map(([name, value]) => [name.toLowerCase(), value]));
  const done = new Map<string, string>();
  const expanding = new Set<string>();
  const expand = (name: string): string | undefined => {
    const key = name.toLowerCase();
    const known = done.get(key);
    if (known !== undefined) return known;
    const value = raw.get(key);
    if (value === undefined || expanding.has(key)) return undefined;
    expanding.add(key);
    // Each value may grow to MAX_EXPANDED_VALUE; past that its macros stay as written, so
    // `A: $(B)$(B)`, `B: $(C)$(C)`, … cannot double its way through memory.
    let size = value.length;
    const result = expandMacros(value, (inner) => {
      const found = expand(inner);
      if (found === undefined || size + found.length > MAX_EXPANDED_VALUE) return undefined;
      size += found.length;
      return found;
    });
    expanding.delete(key);
    done.set(key, result);
    return result;
  };
  return Object.fromEntries(Object.keys(variables).map((name) => [name, expand(name) ?? variables[name]!]));
}

/** A case-insensitive lookup over variables, since Azure variable names ignore case. */
export function createVariableLookup(
  variables: Record<string, string>,
): (name: string) => string | undefined {
  const byName = new Map(Object.entries(variables).map(([name, value]) => [name.toLowerCase(), value]));
  return (name) => byName.get(name.toLowerCase());
}

/** The environment variable a pipeline variable becomes: `Agent.WorkFolder` → `AGENT_WORKFOLDER`. */
export function toEnvName(name: string): string {
  return name.replace(/[. ]/g, '_').toUpperCase();
}
