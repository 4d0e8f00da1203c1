import type { TaskContext } from './types.js';

/** One value a service connection needs: `secret` ones only from secret variables. */
export interface ConnectionField {
  name: string;
  secret: boolean;
  /** What the value is, for the refusal: `the registry's address`. */
  what: string;
}

/** A connection's values by field name, or why the task cannot have them. */
export type ConnectionValues = { values: Record<string, string> } | { failure: string };

/**
 * Slipway has no service connections: a connection an input names (`containerRegistry:
 * myRegistry`) is mapped by variables `<name>.<field>` (`myRegistry.username`, and a secret
 * `myRegistry.password`). A credential in a plain variable is refused: plain variables reach
 * every step's environment and are not masked.
 */
export function serviceConnection(
  ctx: TaskContext,
  input: string,
  name: string,
  fields: readonly ConnectionField[],
): ConnectionValues {
  const values: Record<string, string> = {};
  const missing: ConnectionField[] = [];
  const plain: string[] = [];
  for (const f of fields) {
    const variable = `${name}.${f.name}`;
    const secret = ctx.secret(variable);
    const value = secret ?? (f.secret ? undefined : ctx.variable(variable));
    if (value !== undefined && value !== '') values[f.name] = value;
    else {
      missing.push(f);
      if (f.secret && ctx.variable(variable)) plain.push(variable);
    }
  }
  if (missing.length === 0) return { values };
  const mapping = fields.map((f) => `${name}.${f.name} (${f.secret ? 'secret: ' : ''}${f.what})`).join(', ');
  const why =
    plain.length > 0
      ? `${plain.join(', ')} ${plain.length === 1 ? 'is a plain variable' : 'are plain variables'}: a credential must be a secret variable, so it is masked and kept out of other steps`
      : `Slipway has no service connections; ${input} '${name}' is mapped by the variable${fields.length === 1 ? '' : 's'} ${mapping}, and ${missing
          .map((f) => `${name}.${f.name}`)
          .join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set`;
  return {
    failure: `${why}. Give them as run or repository secrets (slipway run --secret '${name}.${
      missing.find((f) => f.secret)?.name ?? missing[0]!.name
    }=…'), or from a variable group.`,
  };
}
