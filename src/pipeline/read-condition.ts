import { ExpressionError, parseExpression } from './expression-parser.js';
import type { Issues } from './issues.js';
import { isBlankScalar, readString } from './reader.js';
import type { YEntry } from './yaml-tree.js';

export const DEFAULT_CONDITION = 'succeeded()';

/** A `condition:`, checked now so that a typo fails the pipeline, not the run an hour later. */
export function readCondition(issues: Issues, entry: YEntry): string | undefined {
  if (isBlankScalar(entry)) return undefined; // `condition: ''`: the default
  const source = readString(issues, entry);
  if (source === undefined || entry.value.kind !== 'scalar') return undefined;
  try {
    parseExpression(source);
    return source;
  } catch (error) {
    if (!(error instanceof ExpressionError)) throw error;
    const { pos, valueCol } = entry.value;
    // Inside the text when it is written verbatim on one line; else at the value's start.
    const col = valueCol === undefined ? pos.col : valueCol + error.offset;
    issues.add({ line: pos.line, col }, `invalid condition: ${error.detail}`);
    return undefined;
  }
}
