import { describe, expect, it } from 'vitest';
import {
  aggregateStatus,
  type ConditionContext,
  type ConditionStatus,
  ExpressionError,
  evaluateCondition,
  evaluateRuntimeValue,
  parseExpression,
} from './expressions.js';

const ctx: ConditionContext = {
  status: 'succeeded',
  variables: {
    'Build.Reason': 'PullRequest',
    Branch: 'refs/heads/main',
    count: '10',
    empty: '',
    flag: 'true',
  },
  dependencies: {
    build: { result: 'succeeded', outputs: { 'setver.version': '1.2' } },
    Lint: { result: 'succeededWithIssues' },
    test: { result: 'failed' },
    docs: { result: 'skipped' },
  },
};

describe('evaluateCondition', () => {
  const cases: Array<[string, boolean]> = [
    // literals and conversions to boolean
    ['true', true],
    ['False', false],
    ['null', false],
    ["''", false],
    ["'x'", true],
    ['0', false],
    ['-1.5', true],
    // variables, by index and property, case-insensitively; a miss is null
    ["eq(variables['build.reason'], 'pullrequest')", true],
    ["eq(variables.BRANCH, 'refs/heads/main')", true],
    ["eq(variables['nope'], '')", true],
    ['eq(variables.nope, null)', true],
    ["eq(variables.empty, 'x')", false],
    ['variables.empty', false],
    ['variables', true],
    // eq converts the right value to the left value's type
    ['eq(10, variables.count)', true],
    ["eq(10, ' 10 ')", true],
    ["eq(1, 'one')", false],
    ["eq(true, 'x')", true],
    ["eq(false, '')", true],
    ["eq('True', true)", true],
    ["eq('1', 1)", true],
    ["ne('a', 'A')", false],
    ["ne('a', 'b')", true],
    ["eq(variables, 'x')", false],
    // ordering: number or case-insensitive ordinal text, as the left value decides
    ['lt(1, 2)', true],
    ['le(2, 2)', true],
    ['gt(variables.count, 9)', false],
    ["gt(10, '9')", true],
    ["ge('b', 'A')", true],
    ['lt(false, true)', true],
    // logic, short-circuiting
    ['and(true, true, 1)', true],
    ['and(true, false)', false],
    ["and(false, eq(1, 'x'), gt(1, 'boom'))", false],
    ["or(false, '', true)", true],
    ["or(true, gt(1, 'boom'))", true],
    ['not(0)', true],
    // membership and text
    ["in('b', 'a', 'B')", true],
    ["in('z', 'a', 'b')", false],
    ["in('z')", false],
    ["notIn('z', 'a', 'b')", true],
    ["contains(variables.branch, 'HEADS')", true],
    ["contains('abc', 'd')", false],
    ["startsWith(variables.branch, 'refs/')", true],
    ["endsWith(variables.branch, '/MAIN')", true],
    ["contains(variables, 'x')", false],
    // coalesce and format
    ["eq(coalesce(variables.nope, variables.empty, 'fallback'), 'fallback')", true],
    ['eq(coalesce(variables.nope, null), null)', true],
    ["eq(format('{0}-{1}', 'a', 1), 'a-1')", true],
    ["eq(format('{{0}} {0}', 'x'), '{0} x')", true],
    ["eq(format('{0}', true), 'True')", true],
    // dependencies
    ["eq(dependencies.build.result, 'Succeeded')", true],
    ["eq(dependencies['LINT'].result, 'succeededwithissues')", true],
    ["eq(dependencies.build.outputs['setVer.version'], '1.2')", true],
    ["eq(dependencies.nope.result, '')", true],
    // status functions with job names
    ["succeeded('build', 'lint')", true],
    ["succeeded('build', 'test')", false],
    ["succeeded('docs')", false],
    ["failed('build', 'TEST')", true],
    ["failed('build')", false],
    ["succeededOrFailed('build', 'test', 'docs')", true],
    ['always()', true],
    ['canceled()', false],
  ];

  it.each(cases)('%s is %s', (src, expected) => {
    expect(evaluateCondition(src, ctx)).toBe(expected);
  });

  it('accepts a parsed expression', () => {
    expect(evaluateCondition(parseExpression('eq(1, 1)'), ctx)).toBe(true);
  });

  const statuses: ConditionStatus[] = ['succeeded', 'succeededWithIssues', 'failed', 'canceled', 'skipped'];
  const table: Array<[string, boolean[]]> = [
    ['succeeded()', [true, true, false, false, false]],
    ['failed()', [false, false, true, false, false]],
    ['succeededOrFailed()', [true, true, true, false, true]],
    ['always()', [true, true, true, true, true]],
    ['canceled()', [false, false, false, true, false]],
    ["succeeded('build')", [true, true, true, false, true]],
    ["failed('test')", [true, true, true, false, true]],
  ];

  it.each(table)('%s over succeeded, succeededWithIssues, failed, canceled, skipped', (src, expected) => {
    expect(statuses.map((status) => evaluateCondition(src, { ...ctx, status }))).toEqual(expected);
  });

  const failures: Array<[string, number, string]> = [
    ["gt(1, 'x')", 0, "'gt' cannot compare a number to that"],
    ['and(true, lt(null, 1))', 10, "'lt' cannot compare null"],
    ["ge('a', variables)", 0, "'ge' cannot compare text to an object"],
    ["succeeded('deploy')", 0, "'deploy' is not a dependency of this job"],
    ["format('{1}', 'a')", 0, "'format' cannot fill '{1}'"],
    ["format('{0:yyyy}', 'a')", 0, "'format' cannot fill '{0:yyyy}'"],
    ["format('oops }', 'a')", 0, "'format' cannot fill '}'"],
  ];

  it.each(failures)('%s fails at offset %i: %s', (src, offset, detail) => {
    expect(() => evaluateCondition(src, ctx)).toThrow(ExpressionError);
    expect(() => evaluateCondition(src, ctx)).toThrow(expect.objectContaining({ offset, detail }));
  });

  it('fails on a step condition naming a job when there are no dependencies', () => {
    expect(() => evaluateCondition("succeeded('build')", { status: 'succeeded', variables: {} })).toThrow(
      "'build' is not a dependency of this job",
    );
  });
});

describe('stageDependencies and runtime values', () => {
  const stageCtx: ConditionContext = {
    status: 'succeeded',
    variables: { who: 'me' },
    stageDependencies: { Build: { compile: { result: 'succeeded', outputs: { 'setver.version': '1.2' } } } },
  };

  it.each([
    ["eq(stageDependencies.build.compile.outputs['setver.version'], '1.2')", true],
    ["eq(stageDependencies.Build.Compile.result, 'Succeeded')", true],
    ["eq(stageDependencies.nope.compile.result, '')", true],
  ])('%s is %s', (src, expected) => {
    expect(evaluateCondition(src, stageCtx)).toBe(expected);
  });

  it.each([
    ["stageDependencies.Build.compile.outputs['setver.version']", '1.2'],
    ["format('{0}-{1}', variables.who, 2)", 'me-2'],
    ['eq(1, 1)', 'True'],
    ['variables.nope', ''],
    ["split('a,b', ',')", '["a","b"]'],
  ])('$[ %s ] is %j', (src, expected) => {
    expect(evaluateRuntimeValue(src, stageCtx)).toBe(expected);
  });
});

describe('aggregateStatus', () => {
  const cases: Array<[Parameters<typeof aggregateStatus>[0], ConditionStatus]> = [
    [[], 'succeeded'],
    [['succeeded', 'succeeded'], 'succeeded'],
    [['succeeded', 'succeededWithIssues'], 'succeededWithIssues'],
    [['succeededWithIssues', 'skipped'], 'skipped'],
    [['skipped', 'failed'], 'failed'],
    [['failed', 'canceled', 'succeeded'], 'canceled'],
  ];

  it.each(cases)('%j → %s', (results, expected) => {
    expect(aggregateStatus(results)).toBe(expected);
  });

  it('makes succeeded() false after a skipped dependency, as Azure does', () => {
    const status = aggregateStatus(['succeeded', 'skipped']);
    expect(evaluateCondition('succeeded()', { status, variables: {} })).toBe(false);
    expect(evaluateCondition('failed()', { status, variables: {} })).toBe(false);
  });
});
