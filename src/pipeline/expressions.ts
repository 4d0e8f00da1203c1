import { type Call, evaluateExpression } from './evaluate.js';
import {
  type Expr,
  ExpressionError,
  type FunctionName,
  type Literal,
  parseExpression,
} from './expression-parser.js';
import type { TaskResult } from './types.js';
import { Dict, toBoolean, toJson, toText, type Value } from './values.js';

export { type Expr, ExpressionError, type FunctionName, type Literal, parseExpression };

/**
 * The state conditions test. For a job it is the aggregate of its dependencies' results
 * (`aggregateStatus`); for a step, the job's status so far. `skipped` means a dependency was
 * skipped: `succeeded()` and `failed()` are then both false, as in Azure Pipelines.
 */
export type ConditionStatus = TaskResult;

export interface DependencyState {
  result: TaskResult;
  /** Output variables by `step.variable`, read as `dependencies.job.outputs['step.variable']`. */
  outputs?: Record<string, string>;
}

export interface ConditionContext {
  status: ConditionStatus;
  variables: Record<string, string>;
  /**
   * The job's direct dependencies by name, for `succeeded('build')` and
   * `dependencies.build.result`. For a stage condition: the stages it depends on, whose outputs
   * are keyed `job.step.variable`.
   */
  dependencies?: Record<string, DependencyState>;
  /** Jobs of the stages the job's stage depends on, for `stageDependencies.stage.job.outputs['step.var']`. */
  stageDependencies?: Record<string, Record<string, DependencyState>>;
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
  return toBoolean(evaluateExpression(expr, new RuntimeScope(ctx)));
}

/**
 * The value of a runtime variable (`$[ … ]`, given without the brackets) as the text the
 * variable gets: booleans `True`/`False`, null '', objects and arrays as JSON.
 */
export function evaluateRuntimeValue(source: string | Expr, ctx: ConditionContext): string {
  const expr = typeof source === 'string' ? parseExpression(source) : source;
  const value = evaluateExpression(expr, new RuntimeScope(ctx));
  return toText(value) ?? JSON.stringify(toJson(value));
}

const RESULT_NAMES: Record<TaskResult, string> = {
  succeeded: 'Succeeded',
  succeededWithIssues: 'SucceededWithIssues',
  failed: 'Failed',
  canceled: 'Canceled',
  skipped: 'Skipped',
};

function dependencyDict(deps: Record<string, DependencyState>): Dict {
  return new Dict(
    Object.entries(deps).map(([name, dep]): [string, Value] => [
      name,
      new Dict([
        ['result', RESULT_NAMES[dep.result]],
        ['outputs', new Dict(Object.entries(dep.outputs ?? {}))],
      ]),
    ]),
  );
}

/** Dictionaries are read case-insensitively, like Azure variables and job names. */
class RuntimeScope {
  private readonly values: Record<string, Dict>;

  constructor(private readonly ctx: ConditionContext) {
    this.values = {
      variables: new Dict(Object.entries(ctx.variables)),
      dependencies: dependencyDict(ctx.dependencies ?? {}),
      stageDependencies: new Dict(
        Object.entries(ctx.stageDependencies ?? {}).map(([stage, jobs]): [string, Value] => [
          stage,
          dependencyDict(jobs),
        ]),
      ),
    };
  }

  named(name: string): Value {
    return this.values[name] ?? null;
  }

  status(call: Call, evaluate: (expr: Expr) => Value): boolean {
    const { status } = this.ctx;
    if (call.name === 'always') return true;
    if (call.name === 'canceled') return status === 'canceled';
    if (status === 'canceled') return false;
    if (call.args.length === 0) {
      if (call.name === 'succeeded') return status === 'succeeded' || status === 'succeededWithIssues';
      if (call.name === 'failed') return status === 'failed';
      return true;
    }
    const results = call.args.map((a) => this.dependencyResult(toText(evaluate(a)) ?? '', call));
    if (call.name === 'succeeded')
      return results.every((r) => r === 'succeeded' || r === 'succeededWithIssues');
    if (call.name === 'failed') return results.some((r) => r === 'failed');
    return results.every((r) => r !== 'canceled');
  }

  private dependencyResult(name: string, call: Call): TaskResult {
    const wanted = name.toLowerCase();
    const found = Object.entries(this.ctx.dependencies ?? {}).find(([n]) => n.toLowerCase() === wanted);
    if (found === undefined)
      throw new ExpressionError(call.offset, `'${name}' is not a dependency of this job`);
    return found[1].result;
  }
}
