import { describe, expect, it } from 'vitest';
import { ExpressionError, parseExpression } from './expression-parser.js';

describe('parseExpression', () => {
  it('parses literals', () => {
    expect(parseExpression("'it''s'")).toEqual({ kind: 'literal', value: "it's", offset: 0 });
    expect(parseExpression("''")).toEqual({ kind: 'literal', value: '', offset: 0 });
    expect(parseExpression(' -1.5 ')).toEqual({ kind: 'literal', value: -1.5, offset: 1 });
    expect(parseExpression('.5')).toEqual({ kind: 'literal', value: 0.5, offset: 0 });
    expect(parseExpression('True')).toEqual({ kind: 'literal', value: true, offset: 0 });
    expect(parseExpression('FALSE')).toEqual({ kind: 'literal', value: false, offset: 0 });
    expect(parseExpression('null')).toEqual({ kind: 'literal', value: null, offset: 0 });
  });

  it('parses calls with nested arguments, case-insensitively, to canonical names', () => {
    expect(parseExpression("AND(Succeeded(), eq(1, 'x'))")).toEqual({
      kind: 'call',
      name: 'and',
      offset: 0,
      args: [
        { kind: 'call', name: 'succeeded', args: [], offset: 4 },
        {
          kind: 'call',
          name: 'eq',
          offset: 17,
          args: [
            { kind: 'literal', value: 1, offset: 20 },
            { kind: 'literal', value: 'x', offset: 23 },
          ],
        },
      ],
    });
    expect(parseExpression('notin(1, 2)')).toMatchObject({ kind: 'call', name: 'notIn' });
  });

  it('parses index and property access on variables and dependencies', () => {
    const variables = { kind: 'named', name: 'variables', offset: 0 };
    expect(parseExpression("variables['Build.Reason']")).toEqual({
      kind: 'index',
      target: variables,
      index: { kind: 'literal', value: 'Build.Reason', offset: 10 },
      offset: 9,
    });
    expect(parseExpression('Variables.foo_1')).toEqual({
      kind: 'index',
      target: variables,
      index: { kind: 'literal', value: 'foo_1', offset: 10 },
      offset: 9,
    });
    expect(parseExpression("dependencies.build.outputs['s.v']")).toMatchObject({
      kind: 'index',
      index: { value: 's.v' },
      target: {
        kind: 'index',
        index: { value: 'outputs' },
        target: { kind: 'index', index: { value: 'build' } },
      },
    });
  });

  it('indexes call results and reads the named values it is given', () => {
    expect(parseExpression("split('a b', ' ')[0]")).toMatchObject({
      kind: 'index',
      target: { kind: 'call', name: 'split' },
      index: { value: 0 },
    });
    expect(parseExpression('Parameters.list', { names: ['parameters', 'item'] })).toMatchObject({
      kind: 'index',
      target: { kind: 'named', name: 'parameters' },
    });
    expect(parseExpression('ITEM', { names: ['parameters', 'item'] })).toEqual({
      kind: 'named',
      name: 'item',
      offset: 0,
    });
    expect(parseExpression("stageDependencies.a.b.outputs['s.v']")).toMatchObject({ kind: 'index' });
    expect(() =>
      parseExpression('dependencies.a', { names: ['parameters'], unavailable: { dependencies: 'not here' } }),
    ).toThrow(expect.objectContaining({ offset: 0, detail: 'not here' }));
  });

  const errors: Array<[string, number, string]> = [
    ['', 0, 'expected a value, found end of expression'],
    ['   ', 3, 'expected a value, found end of expression'],
    ['suceeded()', 0, "unknown function 'suceeded'"],
    ["and(true, counter('x', 0))", 10, "function 'counter' is not supported yet by Slipway"],
    ['eq(1)', 0, "'eq' takes 2 arguments, found 1"],
    ['and(true)', 0, "'and' takes at least 2, found 1"],
    ['always(1)', 0, "'always' takes 0 arguments, found 1"],
    ['not()', 0, "'not' takes 1 argument, found 0"],
    ["eq(1 'x')", 5, "expected ',' or ')', found a quote"],
    ['eq(1, 2', 7, "expected ',' or ')', found end of expression"],
    ["'open", 0, 'unterminated string: strings are closed by a single quote'],
    ['foo', 0, "unrecognized value 'foo'"],
    ['variables.', 10, 'expected a property name, found end of expression'],
    ["variables['a'", 13, "expected ']', found end of expression"],
    ['1.2.3', 0, 'version literals (like 1.2.3) are not supported yet by Slipway'],
    ['1x', 1, "unexpected 'x'"],
    ['true false', 5, "unexpected 'f'"],
    ['-', 0, "unexpected '-'"],
    [`${'not('.repeat(60)}true${')'.repeat(60)}`, 204, 'expression nests deeper than 50 levels'],
  ];

  it.each(errors)('rejects %j at offset %i: %s', (src, offset, detail) => {
    let caught: unknown;
    try {
      parseExpression(src);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ExpressionError);
    expect(caught).toMatchObject({ offset, detail });
  });
});
