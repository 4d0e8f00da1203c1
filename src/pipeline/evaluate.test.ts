import { describe, expect, it } from 'vitest';
import { evaluateExpression, MAX_RESULT_CHARS } from './evaluate.js';
import { ExpressionError, parseExpression } from './expression-parser.js';
import { Dict, List, toJson, type Value } from './values.js';

const scope = {
  named: (name: string): Value =>
    name === 'parameters'
      ? new Dict([
          ['list', new List(['a', 'b', 'c'])],
          ['obj', new Dict([['Key', 'v']])],
          ['big', 'x'.repeat(600_000)],
        ])
      : null,
};
const run = (src: string) =>
  toJson(evaluateExpression(parseExpression(src, { names: ['parameters'] }), scope));

describe('evaluateExpression', () => {
  const cases: Array<[string, unknown]> = [
    ['parameters.list[1]', 'b'],
    ["parameters['LIST'][5]", null],
    ['parameters.obj.key', 'v'],
    ['length(parameters.list)', 3],
    ['length(parameters.obj)', 1],
    ["length('')", 0],
    ["join('-', parameters.list)", 'a-b-c'],
    ["join('-', 'single')", 'single'],
    ["split('a,,b', ',')", ['a', '', 'b']],
    ["split('abc', '')", ['abc']],
    ["split('a b', ' ')[1]", 'b'],
    ["replace('aaa', 'a', 'bb')", 'bbbbbb'],
    ["replace('abc', '', 'x')", 'abc'],
    ["upper('straße')", 'STRASSE'],
    ["lower('ÄB')", 'äb'],
    ["containsValue(parameters.list, 'C')", true],
    ["containsValue(parameters.obj, 'v')", true],
    ["containsValue('abc', 'a')", false],
    ["iif(true, 'a', gt(1, 'boom'))", 'a'],
    ['xor(1, 0)', true],
    ['convertToJson(parameters.list)', '[\n  "a",\n  "b",\n  "c"\n]'],
  ];

  it.each(cases)('%s is %j', (src, expected) => {
    expect(run(src)).toEqual(expected);
  });

  const failures: Array<[string, string]> = [
    ['upper(parameters.list)', "'upper' needs text, found an array"],
    [
      "replace(parameters.big, 'x', 'xx')",
      `'replace' would build text longer than ${MAX_RESULT_CHARS} characters`,
    ],
    [
      "format('{0}{0}', parameters.big)",
      `'format' would build text longer than ${MAX_RESULT_CHARS} characters`,
    ],
    [
      "join(parameters.big, split('a,b,c', ','))",
      `'join' would build text longer than ${MAX_RESULT_CHARS} characters`,
    ],
    ['succeeded()', "'succeeded()' can only be used in a condition, not in a template expression"],
  ];

  it.each(failures)('%s fails: %s', (src, detail) => {
    expect(() => run(src)).toThrow(ExpressionError);
    expect(() => run(src)).toThrow(expect.objectContaining({ detail }));
  });
});
