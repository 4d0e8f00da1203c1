/** Azure's rule for job and step names: letters, digits and `_`, not starting with a digit. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function identifierProblem(kind: string, name: string): string | undefined {
  if (IDENTIFIER.test(name)) return undefined;
  return `invalid ${kind} name '${name}': use letters, digits and '_', not starting with a digit`;
}
