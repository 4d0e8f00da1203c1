import { SlipwayError } from '../shared/errors.js';

/** A condition that does not parse or cannot be evaluated; `offset` is 0-based into its source. */
export class ExpressionError extends SlipwayError {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`${detail} (at character ${offset + 1})`);
  }
}

export type Literal = string | number | boolean | null;

/** The dictionaries a runtime condition can read. */
export type NamedValue = 'variables' | 'dependencies';

export type FunctionName =
  | 'succeeded'
  | 'failed'
  | 'succeededOrFailed'
  | 'always'
  | 'canceled'
  | 'and'
  | 'or'
  | 'not'
  | 'eq'
  | 'ne'
  | 'lt'
  | 'le'
  | 'gt'
  | 'ge'
  | 'in'
  | 'notIn'
  | 'contains'
  | 'startsWith'
  | 'endsWith'
  | 'coalesce'
  | 'format';

export type Expr =
  | { kind: 'literal'; value: Literal; offset: number }
  | { kind: 'named'; name: NamedValue; offset: number }
  /** `x['key']` and `x.key` (the latter with a string literal index). */
  | { kind: 'index'; target: Expr; index: Expr; offset: number }
  | { kind: 'call'; name: FunctionName; args: Expr[]; offset: number };

const MANY = Number.POSITIVE_INFINITY;

/** Argument counts, as Azure Pipelines checks them when the pipeline is compiled. */
export const FUNCTION_ARITY: Readonly<Record<FunctionName, readonly [min: number, max: number]>> = {
  succeeded: [0, MANY],
  failed: [0, MANY],
  succeededOrFailed: [0, MANY],
  always: [0, 0],
  canceled: [0, 0],
  and: [2, MANY],
  or: [2, MANY],
  not: [1, 1],
  eq: [2, 2],
  ne: [2, 2],
  lt: [2, 2],
  le: [2, 2],
  gt: [2, 2],
  ge: [2, 2],
  in: [1, MANY],
  notIn: [1, MANY],
  contains: [2, 2],
  startsWith: [2, 2],
  endsWith: [2, 2],
  coalesce: [1, MANY],
  format: [1, MANY],
};

/** Azure functions refused by name, so a user knows the gap is Slipway's, not a typo. */
const UNSUPPORTED_FUNCTIONS = [
  'containsValue',
  'convertToJson',
  'counter',
  'iif',
  'join',
  'length',
  'lower',
  'replace',
  'split',
  'trim',
  'upper',
  'xor',
];

const FUNCTIONS_BY_LOWER = new Map(
  (Object.keys(FUNCTION_ARITY) as FunctionName[]).map((name) => [name.toLowerCase(), name]),
);
const NAMED_VALUES: readonly NamedValue[] = ['variables', 'dependencies'];
/** Deeper nesting than any real condition; bounds recursion on hostile input. */
const MAX_DEPTH = 50;

const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /-?(?:\d+(?:\.\d+)?|\.\d+)/y;

export function parseExpression(src: string): Expr {
  return new ExpressionParser(src).parseAll();
}

class ExpressionParser {
  private at = 0;

  constructor(private readonly src: string) {}

  parseAll(): Expr {
    const expr = this.value(0);
    this.skipSpace();
    if (this.at < this.src.length) throw this.unexpected();
    return expr;
  }

  private value(depth: number): Expr {
    if (depth > MAX_DEPTH)
      throw new ExpressionError(this.at, `expression nests deeper than ${MAX_DEPTH} levels`);
    this.skipSpace();
    const ch = this.src[this.at];
    if (ch === "'") return this.string();
    if (ch !== undefined && /[-.0-9]/.test(ch)) return this.number();
    if (ch !== undefined && /[A-Za-z_]/.test(ch)) return this.word(depth);
    throw this.unexpected('a value');
  }

  private string(): Expr {
    const offset = this.at;
    let text = '';
    for (let i = offset + 1; i < this.src.length; i++) {
      const ch = this.src[i];
      if (ch === "'") {
        if (this.src[i + 1] !== "'") {
          this.at = i + 1;
          return { kind: 'literal', value: text, offset };
        }
        i++; // '' stands for one quote
      }
      text += ch;
    }
    throw new ExpressionError(offset, 'unterminated string: strings are closed by a single quote');
  }

  private number(): Expr {
    const offset = this.at;
    const text = this.match(NUMBER);
    if (text === undefined) throw this.unexpected();
    const [next = '', afterNext = ''] = [this.src[this.at], this.src[this.at + 1]];
    if (next === '.' && /\d/.test(afterNext)) {
      throw new ExpressionError(offset, 'version literals (like 1.2.3) are not supported yet by Slipway');
    }
    if (/[A-Za-z0-9_.]/.test(next)) throw this.unexpected();
    return { kind: 'literal', value: Number(text), offset };
  }

  private word(depth: number): Expr {
    const offset = this.at;
    const word = this.match(IDENTIFIER) ?? '';
    const lower = word.toLowerCase();
    this.skipSpace();
    if (this.src[this.at] === '(') return this.call(word, offset, depth);
    if (lower === 'true' || lower === 'false') return { kind: 'literal', value: lower === 'true', offset };
    if (lower === 'null') return { kind: 'literal', value: null, offset };
    const named = NAMED_VALUES.find((n) => n === lower);
    if (named === undefined) throw new ExpressionError(offset, `unrecognized value '${word}'`);
    return this.accessors({ kind: 'named', name: named, offset }, depth);
  }

  private call(word: string, offset: number, depth: number): Expr {
    const name = FUNCTIONS_BY_LOWER.get(word.toLowerCase());
    if (name === undefined) {
      const unsupported = UNSUPPORTED_FUNCTIONS.some((f) => f.toLowerCase() === word.toLowerCase());
      throw new ExpressionError(
        offset,
        unsupported ? `function '${word}' is not supported yet by Slipway` : `unknown function '${word}'`,
      );
    }
    this.at++;
    const args = this.args(depth);
    checkArity(name, args.length, offset);
    return { kind: 'call', name, args, offset };
  }

  private args(depth: number): Expr[] {
    const args: Expr[] = [];
    this.skipSpace();
    if (this.src[this.at] === ')') {
      this.at++;
      return args;
    }
    for (;;) {
      args.push(this.value(depth + 1));
      this.skipSpace();
      const ch = this.src[this.at];
      this.at++;
      if (ch === ')') return args;
      if (ch !== ',') {
        this.at--;
        throw this.unexpected("',' or ')'");
      }
    }
  }

  private accessors(target: Expr, depth: number): Expr {
    let expr = target;
    for (;;) {
      const offset = this.at;
      const ch = this.src[this.at];
      if (ch === '[') {
        this.at++;
        const index = this.value(depth + 1);
        this.skipSpace();
        if (this.src[this.at] !== ']') throw this.unexpected("']'");
        this.at++;
        expr = { kind: 'index', target: expr, index, offset };
      } else if (ch === '.') {
        this.at++;
        const name = this.match(IDENTIFIER);
        if (name === undefined) throw this.unexpected('a property name');
        expr = {
          kind: 'index',
          target: expr,
          index: { kind: 'literal', value: name, offset: offset + 1 },
          offset,
        };
      } else {
        return expr;
      }
    }
  }

  private match(pattern: RegExp): string | undefined {
    pattern.lastIndex = this.at;
    const found = pattern.exec(this.src)?.[0];
    if (found !== undefined) this.at += found.length;
    return found;
  }

  private skipSpace(): void {
    while (/\s/.test(this.src[this.at] ?? '')) this.at++;
  }

  private unexpected(expected?: string): ExpressionError {
    const ch = this.src[this.at];
    const found = ch === undefined ? 'end of expression' : ch === "'" ? 'a quote' : `'${ch}'`;
    return new ExpressionError(
      this.at,
      expected ? `expected ${expected}, found ${found}` : `unexpected ${found}`,
    );
  }
}

function checkArity(name: FunctionName, count: number, offset: number): void {
  const [min, max] = FUNCTION_ARITY[name];
  if (count >= min && count <= max) return;
  const wanted =
    min === max
      ? `${min} argument${min === 1 ? '' : 's'}`
      : max === MANY
        ? `at least ${min}`
        : `${min} to ${max}`;
  throw new ExpressionError(offset, `'${name}' takes ${wanted}, found ${count}`);
}
