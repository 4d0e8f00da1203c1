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
