import { assertNever } from '../shared/errors.js';
import { type Expr, ExpressionError, type FunctionName } from './expression-parser.js';
import {
  Dict,
  describeValue,
  equals,
  fold,
  List,
  toBoolean,
  toJson,
  toNumber,
  toText,
  type Value,
} from './values.js';

export type Call = Extract<Expr, { kind: 'call' }>;

/** What an expression can read: runtime conditions and template expressions differ here. */
export interface EvaluationScope {
  /** The value of a named value the parser accepted (`variables`, `parameters`, a loop variable). */
  named(name: string, offset: number): Value;
  /** `succeeded()` and the other status functions; absent where they may not be used. */
  status?(call: Call, evaluate: (expr: Expr) => Value): boolean;
}

/** No function may build text longer than this: `replace` and `format` could otherwise fill memory. */
export const MAX_RESULT_CHARS = 1024 * 1024;

export function evaluateExpression(expr: Expr, scope: EvaluationScope): Value {
  return new Evaluator(scope).evaluate(expr);
}

class Evaluator {
  constructor(private readonly scope: EvaluationScope) {}

  evaluate(expr: Expr): Value {
    switch (expr.kind) {
      case 'literal':
        return expr.value;
      case 'named':
        return this.scope.named(expr.name, expr.offset);
      case 'index':
        return index(this.evaluate(expr.target), this.evaluate(expr.index));
      case 'call':
        return this.call(expr);
      default:
        return assertNever(expr);
    }
  }

  private call(call: Call): Value {
    const { args } = call;
    const lazy = args.map((a) => () => this.evaluate(a));
    const arg = (i: number): Value => lazy[i]?.() ?? null;
    const name: FunctionName = call.name;
    switch (name) {
      case 'succeeded':
      case 'failed':
      case 'succeededOrFailed':
      case 'always':
      case 'canceled':
        if (this.scope.status === undefined)
          throw new ExpressionError(
            call.offset,
            `'${name}()' can only be used in a condition, not in a template expression`,
          );
        return this.scope.status(call, (e) => this.evaluate(e));
      case 'and':
        return lazy.every((a) => toBoolean(a()));
      case 'or':
        return lazy.some((a) => toBoolean(a()));
      case 'not':
        return !toBoolean(arg(0));
      case 'xor':
        return toBoolean(arg(0)) !== toBoolean(arg(1));
      case 'iif':
        return toBoolean(arg(0)) ? arg(1) : arg(2);
      case 'eq':
        return equals(arg(0), arg(1));
      case 'ne':
        return !equals(arg(0), arg(1));
      case 'lt':
        return compare(arg(0), arg(1), call) < 0;
      case 'le':
        return compare(arg(0), arg(1), call) <= 0;
      case 'gt':
        return compare(arg(0), arg(1), call) > 0;
      case 'ge':
        return compare(arg(0), arg(1), call) >= 0;
      case 'in':
      case 'notIn': {
        const left = arg(0);
        const found = lazy.slice(1).some((a) => equals(left, a()));
        return name === 'in' ? found : !found;
      }
      case 'contains':
      case 'startsWith':
      case 'endsWith':
        return textTest(name, arg(0), arg(1));
      case 'containsValue':
        return containsValue(arg(0), arg(1));
      case 'coalesce':
        return coalesce(lazy);
      case 'format':
        return format(
          lazy.map((a) => a()),
          call,
        );
      case 'length':
        return length(arg(0));
      case 'lower':
      case 'upper':
      case 'trim':
        return changeText(name, arg(0), call);
      case 'join':
        return join(arg(0), arg(1), call);
      case 'split':
        return split(arg(0), arg(1), call);
      case 'replace':
        return replace(arg(0), arg(1), arg(2), call);
      case 'convertToJson':
        return limit(JSON.stringify(toJson(arg(0)), null, 2) ?? 'null', call);
      default:
        return assertNever(name);
    }
  }
}

function index(target: Value, key: Value): Value {
  if (target instanceof Dict) {
    const text = toText(key);
    return text === undefined ? null : target.get(text);
  }
  if (target instanceof List) {
    const at = toNumber(key);
    return Number.isInteger(at) && at >= 0 ? (target.items[at] ?? null) : null;
  }
  return null;
}

/** As `equals`, but a failed conversion is an error rather than an answer. */
function compare(left: Value, right: Value, call: Call): number {
  if (typeof left === 'number') {
    const number = toNumber(right);
    if (Number.isNaN(number))
      throw new ExpressionError(call.offset, `'${call.name}' cannot compare a number to that`);
    return left - number;
  }
  if (typeof left === 'string') {
    const text = toText(right);
    if (text === undefined)
      throw new ExpressionError(call.offset, `'${call.name}' cannot compare text to an object`);
    const [a, b] = [fold(left), fold(text)];
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof left === 'boolean') return Number(left) - Number(toBoolean(right));
  throw new ExpressionError(
    call.offset,
    `'${call.name}' cannot compare ${left === null ? 'null' : 'an object'}`,
  );
}

function textTest(name: 'contains' | 'startsWith' | 'endsWith', haystack: Value, needle: Value): boolean {
  const [h, n] = [toText(haystack), toText(needle)];
  if (h === undefined || n === undefined) return false;
  const [a, b] = [fold(h), fold(n)];
  if (name === 'contains') return a.includes(b);
  return name === 'startsWith' ? a.startsWith(b) : a.endsWith(b);
}

function containsValue(collection: Value, needle: Value): boolean {
  if (collection instanceof List) return collection.items.some((item) => equals(item, needle));
  if (collection instanceof Dict) return collection.entries().some(([, item]) => equals(item, needle));
  return false;
}

function coalesce(values: Array<() => Value>): Value {
  for (const get of values) {
    const value = get();
    if (value !== null && value !== '') return value;
  }
  return null;
}

/** `format('{0}-{1}', a, b)`; `{{` and `}}` are literal braces. */
function format(values: Value[], call: Call): string {
  const [pattern, ...args] = values.map((v) => toText(v));
  if (pattern === undefined) throw new ExpressionError(call.offset, "'format' needs a text pattern");
  let size = pattern.length;
  const text = pattern.replace(/\{\{|\}\}|\{(\d+)\}|\{[^}]*\}?|\}/g, (token, at: string | undefined) => {
    if (token === '{{') return '{';
    if (token === '}}') return '}';
    const filled = at === undefined ? undefined : args[Number(at)];
    if (filled === undefined) throw new ExpressionError(call.offset, `'format' cannot fill '${token}'`);
    size += filled.length;
    if (size > MAX_RESULT_CHARS) throw tooLong(call);
    return filled;
  });
  return text;
}

function length(value: Value): number {
  if (value instanceof List) return value.items.length;
  if (value instanceof Dict) return value.size;
  return toText(value)?.length ?? 0;
}

function changeText(name: 'lower' | 'upper' | 'trim', value: Value, call: Call): string {
  const text = needText(value, call);
  if (name === 'trim') return text.trim();
  return name === 'lower' ? text.toLowerCase() : text.toUpperCase();
}

/** `join(separator, array)`: items as text, objects as ''. Text alone is returned as it is. */
function join(separator: Value, collection: Value, call: Call): string {
  const sep = needText(separator, call);
  if (!(collection instanceof List)) return toText(collection) ?? '';
  let size = 0;
  const parts = collection.items.map((item) => {
    const text = toText(item) ?? '';
    size += text.length + sep.length;
    if (size > MAX_RESULT_CHARS) throw tooLong(call);
    return text;
  });
  return parts.join(sep);
}

function split(value: Value, delimiter: Value, call: Call): List {
  const text = needText(value, call);
  const sep = needText(delimiter, call);
  return new List(sep === '' ? [text] : text.split(sep));
}

function replace(value: Value, from: Value, to: Value, call: Call): string {
  const [text, old, fresh] = [needText(value, call), needText(from, call), needText(to, call)];
  if (old === '') return text;
  const parts = text.split(old);
  if (text.length + (parts.length - 1) * (fresh.length - old.length) > MAX_RESULT_CHARS) throw tooLong(call);
  return parts.join(fresh);
}

function needText(value: Value, call: Call): string {
  const text = toText(value);
  if (text === undefined)
    throw new ExpressionError(call.offset, `'${call.name}' needs text, found ${describeValue(value)}`);
  return text;
}

function limit(text: string, call: Call): string {
  if (text.length > MAX_RESULT_CHARS) throw tooLong(call);
  return text;
}

function tooLong(call: Call): ExpressionError {
  return new ExpressionError(
    call.offset,
    `'${call.name}' would build text longer than ${MAX_RESULT_CHARS} characters`,
  );
}
