import { assertNever } from '../shared/errors.js';
import {
  type Expr,
  ExpressionError,
  type FunctionName,
  type Literal,
  parseExpression,
} from './expression-parser.js';
import type { TaskResult } from './types.js';

export { type Expr, ExpressionError, type FunctionName, type Literal, parseExpression };

/**
 * The state conditions test. For a job it is the aggregate of its dependencies' results
 * (`aggregateStatus`); for a step, the job's status so far. `skipped` means a dependency was
 * skipped: `succeeded()` and `failed()` are then both false, as in Azure Pipelines.
 */
export type ConditionStatus = 'succeeded' | 'succeededWithIssues' | 'failed' | 'canceled' | 'skipped';

export interface DependencyState {
  result: TaskResult;
  /** Output variables by `step.variable`, read as `dependencies.job.outputs['step.variable']`. */
  outputs?: Record<string, string>;
}

export interface ConditionContext {
  status: ConditionStatus;
  variables: Record<string, string>;
  /** The job's direct dependencies by name, for `succeeded('build')` and `dependencies.build.result`. */
  dependencies?: Record<string, DependencyState>;
}

/** The worst of some results: one canceled, failed or skipped dependency decides. */
export function aggregateStatus(results: readonly TaskResult[]): ConditionStatus {
  const worstFirst = ['canceled', 'failed', 'skipped', 'succeededWithIssues'] as const;
  return worstFirst.find((status) => results.includes(status)) ?? 'succeeded';
}

/**
 * Whether a condition holds. Throws ExpressionError when it does not parse or cannot be
 * evaluated (a comparison of values that do not convert, an unknown dependency name).
 */
export function evaluateCondition(condition: string | Expr, ctx: ConditionContext): boolean {
  const expr = typeof condition === 'string' ? parseExpression(condition) : condition;
  return toBoolean(new Evaluator(ctx).evaluate(expr));
}

/** Dictionaries are read case-insensitively, like Azure variables and job names. */
class Dict {
  private readonly byKey = new Map<string, Value>();

  constructor(entries: Iterable<[string, Value]>) {
    for (const [key, value] of entries) this.byKey.set(key.toLowerCase(), value);
  }

  get(key: string): Value {
    return this.byKey.get(key.toLowerCase()) ?? null;
  }
}

type Value = Literal | Dict;

const RESULT_NAMES: Record<TaskResult, string> = {
  succeeded: 'Succeeded',
  succeededWithIssues: 'SucceededWithIssues',
  failed: 'Failed',
  canceled: 'Canceled',
  skipped: 'Skipped',
};

type Call = Extract<Expr, { kind: 'call' }>;

class Evaluator {
  private readonly variables: Dict;
  private readonly dependencies: Dict;

  constructor(private readonly ctx: ConditionContext) {
    this.variables = new Dict(Object.entries(ctx.variables));
    const deps = Object.entries(ctx.dependencies ?? {});
    this.dependencies = new Dict(
      deps.map(([name, dep]): [string, Value] => [
        name,
        new Dict([
          ['result', RESULT_NAMES[dep.result]],
          ['outputs', new Dict(Object.entries(dep.outputs ?? {}))],
        ]),
      ]),
    );
  }

  evaluate(expr: Expr): Value {
    switch (expr.kind) {
      case 'literal':
        return expr.value;
      case 'named':
        return expr.name === 'variables' ? this.variables : this.dependencies;
      case 'index': {
        const target = this.evaluate(expr.target);
        const key = toText(this.evaluate(expr.index));
        return target instanceof Dict && key !== undefined ? target.get(key) : null;
      }
      case 'call':
        return this.call(expr);
      default:
        return assertNever(expr);
    }
  }

  private call(call: Call): Value {
    const args = call.args;
    const arg = (i: number): Value => {
      const expr = args[i];
      return expr === undefined ? null : this.evaluate(expr);
    };
    switch (call.name) {
      case 'succeeded':
      case 'failed':
      case 'succeededOrFailed':
      case 'always':
      case 'canceled':
        return this.status(call);
      case 'and':
        return args.every((a) => toBoolean(this.evaluate(a)));
      case 'or':
        return args.some((a) => toBoolean(this.evaluate(a)));
      case 'not':
        return !toBoolean(arg(0));
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
        const found = args.slice(1).some((a) => equals(left, this.evaluate(a)));
        return call.name === 'in' ? found : !found;
      }
      case 'contains':
      case 'startsWith':
      case 'endsWith':
        return textTest(call.name, arg(0), arg(1));
      case 'coalesce':
        return coalesce(args.map((a) => () => this.evaluate(a)));
      case 'format':
        return format(
          args.map((a) => this.evaluate(a)),
          call,
        );
      default:
        return assertNever(call.name);
    }
  }

  private status(call: Call): boolean {
    const { status } = this.ctx;
    if (call.name === 'always') return true;
    if (call.name === 'canceled') return status === 'canceled';
    if (status === 'canceled') return false;
    if (call.args.length === 0) {
      if (call.name === 'succeeded') return status === 'succeeded' || status === 'succeededWithIssues';
      if (call.name === 'failed') return status === 'failed';
      return true;
    }
    const results = call.args.map((a) => this.dependencyResult(a, call));
    if (call.name === 'succeeded')
      return results.every((r) => r === 'succeeded' || r === 'succeededWithIssues');
    if (call.name === 'failed') return results.some((r) => r === 'failed');
    return results.every((r) => r !== 'canceled');
  }

  private dependencyResult(arg: Expr, call: Call): TaskResult {
    const name = toText(this.evaluate(arg)) ?? '';
    const wanted = name.toLowerCase();
    const found = Object.entries(this.ctx.dependencies ?? {}).find(([n]) => n.toLowerCase() === wanted);
    if (found === undefined)
      throw new ExpressionError(call.offset, `'${name}' is not a dependency of this job`);
    return found[1].result;
  }
}

function toBoolean(value: Value): boolean {
  if (value === null) return false;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'string') return value !== '';
  return value instanceof Dict ? true : value;
}

/** Azure converts text to a number leniently (spaces around, sign, decimal point); '' is 0. */
function toNumber(value: Value): number {
  if (value === null) return 0;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return value;
  if (value instanceof Dict) return Number.NaN;
  const text = value.trim();
  if (text === '') return 0;
  return /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i.test(text) ? Number(text) : Number.NaN;
}

function toText(value: Value): string | undefined {
  if (value === null) return '';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  return value instanceof Dict ? undefined : value;
}

/** .NET's OrdinalIgnoreCase, which Azure uses for every string comparison. */
function fold(text: string): string {
  return text.toUpperCase();
}

/** Azure converts the right value to the left value's type; a failed conversion is not equal. */
function equals(left: Value, right: Value): boolean {
  if (left === null) return right === null || right === '';
  if (typeof left === 'boolean') return toBoolean(right) === left;
  if (typeof left === 'number') return toNumber(right) === left;
  if (typeof left === 'string') {
    const text = toText(right);
    return text !== undefined && fold(text) === fold(left);
  }
  return left === right;
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
  return pattern.replace(/\{\{|\}\}|\{(\d+)\}|\{[^}]*\}?|\}/g, (token, index: string | undefined) => {
    if (token === '{{') return '{';
    if (token === '}}') return '}';
    const text = index === undefined ? undefined : args[Number(index)];
    if (text === undefined) throw new ExpressionError(call.offset, `'format' cannot fill '${token}'`);
    return text;
  });
}
