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

/** The dictionaries a runtime condition or variable (`$[ ]`) can read. */
export const RUNTIME_NAMES = ['variables', 'dependencies', 'stageDependencies'] as const;

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
  | 'format'
  | 'iif'
  | 'xor'
  | 'length'
  | 'lower'
  | 'upper'
  | 'trim'
  | 'join'
  | 'split'
  | 'replace'
  | 'convertToJson'
  | 'containsValue';

/** The functions that read the run's state; only runtime conditions may call them. */
export const STATUS_FUNCTIONS: readonly FunctionName[] = [
  'succeeded',
  'failed',
  'succeededOrFailed',
  'always',
  'canceled',
];

export type Expr =
  | { kind: 'literal'; value: Literal; offset: number }
  /** A dictionary by name (`variables`, `parameters`, an `each` loop's variable), as declared. */
  | { kind: 'named'; name: string; offset: number }
  /** `x['key']`, `x[0]` and `x.key` (the latter with a string literal index). */
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
  iif: [3, 3],
  xor: [2, 2],
  length: [1, 1],
  lower: [1, 1],
  upper: [1, 1],
  trim: [1, 1],
  join: [2, 2],
  split: [2, 2],
  replace: [3, 3],
  convertToJson: [1, 1],
  containsValue: [2, 2],
};

/** Azure functions refused by name, so a user knows the gap is Slipway's, not a typo. */
const UNSUPPORTED_FUNCTIONS = ['counter'];

const FUNCTIONS_BY_LOWER = new Map(
  (Object.keys(FUNCTION_ARITY) as FunctionName[]).map((name) => [name.toLowerCase(), name]),
);
/** Deeper nesting than any real condition; bounds recursion on hostile input. */
const MAX_DEPTH = 50;

const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /-?(?:\d+(?:\.\d+)?|\.\d+)/y;

export interface ParseOptions {
  /** The named values the expression may read; default RUNTIME_NAMES. Matched case-insensitively. */
  names?: readonly string[];
  /** Names that exist elsewhere (runtime vs template), with the message a use of one gets. */
  unavailable?: Readonly<Record<string, string>>;
}

export function parseExpression(src: string, options: ParseOptions = {}): Expr {
  return new ExpressionParser(src, options).parseAll();
}

class ExpressionParser {
  private at = 0;
  private readonly names: Map<string, string>;

  constructor(
    private readonly src: string,
    private readonly options: ParseOptions,
  ) {
    this.names = new Map((options.names ?? RUNTIME_NAMES).map((n) => [n.toLowerCase(), n]));
  }

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
    const named = this.names.get(lower);
    if (named === undefined) {
      const elsewhere = this.options.unavailable?.[lower];
      throw new ExpressionError(offset, elsewhere ?? `unrecognized value '${word}'`);
    }
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
    return this.accessors({ kind: 'call', name, args, offset }, depth);
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
