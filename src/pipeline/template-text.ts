import { ExpressionError } from './expression-parser.js';

/** A piece of a YAML string: literal text, or the source of one `${{ … }}` expression. */
export type Segment =
  | { kind: 'text'; text: string }
  /** `offset` is where `source` starts in the whole string, 0-based. */
  | { kind: 'expression'; source: string; offset: number };

export const OPEN = '${{';
const CLOSE = '}}';

export function hasTemplateExpression(text: string): boolean {
  return text.includes(OPEN);
}

/**
 * Splits text at its `${{ … }}` expressions. A `}}` inside a quoted string of the expression
 * (`format('{{0}}', x)`) does not close it. Throws ExpressionError (offset into the whole text)
 * when an expression is not closed.
 */
export function splitTemplateText(text: string): Segment[] {
  const segments: Segment[] = [];
  let at = 0;
  for (let open = text.indexOf(OPEN); open !== -1; open = text.indexOf(OPEN, at)) {
    if (open > at) segments.push({ kind: 'text', text: text.slice(at, open) });
    const start = open + OPEN.length;
    const end = closingBraces(text, start);
    if (end === undefined) throw new ExpressionError(open, `'${OPEN}' is not closed by '${CLOSE}'`);
    segments.push({ kind: 'expression', source: text.slice(start, end), offset: start });
    at = end + CLOSE.length;
  }
  if (at < text.length) segments.push({ kind: 'text', text: text.slice(at) });
  return segments;
}

function closingBraces(text: string, from: number): number | undefined {
  let quoted = false;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'")
      quoted = !quoted; // '' inside a string toggles twice: still quoted
    else if (!quoted && ch === '}' && text[i + 1] === '}') return i;
  }
  return undefined;
}

/** The one expression a text consists of (spaces around allowed), or undefined. */
export function wholeExpression(
  segments: readonly Segment[],
): Extract<Segment, { kind: 'expression' }> | undefined {
  const meaningful = segments.filter((s) => s.kind === 'expression' || s.text.trim() !== '');
  const [only] = meaningful;
  return meaningful.length === 1 && only?.kind === 'expression' ? only : undefined;
}

/** `${{ if c }}`, `${{ elseif c }}`, `${{ else }}`, `${{ each x in c }}`, `${{ insert }}` keys. */
export type Directive =
  | { kind: 'if' | 'elseif'; condition: string; conditionOffset: number }
  | { kind: 'else' | 'insert' }
  | { kind: 'each'; variable: string; collection: string; collectionOffset: number };

const DIRECTIVE = /^(\s*)(if|elseif|else|each|insert)(?=\s|$)/i;
const EACH = /^(\s*)([A-Za-z_][A-Za-z0-9_]*)\s+in(?=\s)/i;

/**
 * The directive a mapping key holds, undefined for an ordinary key. Throws ExpressionError
 * (offset into the key) for a directive written wrong.
 */
export function readDirective(key: string): Directive | undefined {
  const trimmed = key.trim();
  if (!trimmed.startsWith(OPEN) || !trimmed.endsWith(CLOSE)) return undefined;
  const lead = key.indexOf(OPEN) + OPEN.length;
  const inner = key.slice(lead, key.lastIndexOf(CLOSE));
  const match = DIRECTIVE.exec(inner);
  if (!match) return undefined;
  const [all, space = '', word = ''] = match;
  const kind = word.toLowerCase() as Directive['kind'];
  const rest = inner.slice(all.length);
  const restOffset = lead + all.length;
  if (kind === 'else' || kind === 'insert') {
    if (kind === 'else' && /^\s*if\b/i.test(rest))
      throw new ExpressionError(restOffset, "write 'elseif', not 'else if'");
    if (rest.trim() !== '') throw new ExpressionError(restOffset, `'${kind}' takes nothing after it`);
    return { kind };
  }
  if (kind === 'if' || kind === 'elseif') {
    if (rest.trim() === '') throw new ExpressionError(restOffset, `'${kind}' needs a condition`);
    return { kind, condition: rest, conditionOffset: restOffset };
  }
  const each = EACH.exec(rest);
  if (!each) throw new ExpressionError(lead + space.length, "write 'each <name> in <expression>'");
  return {
    kind,
    variable: each[2] ?? '',
    collection: rest.slice(each[0].length),
    collectionOffset: restOffset + each[0].length,
  };
}
