// biome-ignore-all lint/suspicious/noTemplateCurlyInString: pipeline YAML writes ${{ }} expressions in plain strings
import { describe, expect, it } from 'vitest';
import { ExpressionError } from './expression-parser.js';
import { readDirective, splitTemplateText, wholeExpression } from './template-text.js';

describe('splitTemplateText', () => {
  it('splits text at expressions, ignoring braces inside quoted strings', () => {
    expect(splitTemplateText("a ${{ format('{{0}}}', 1) }}-${{x}}")).toEqual([
      { kind: 'text', text: 'a ' },
      { kind: 'expression', source: " format('{{0}}}', 1) ", offset: 5 },
      { kind: 'text', text: '-' },
      { kind: 'expression', source: 'x', offset: 32 },
    ]);
    expect(wholeExpression(splitTemplateText(' ${{ x }} '))).toEqual({
      kind: 'expression',
      source: ' x ',
      offset: 4,
    });
    expect(wholeExpression(splitTemplateText('a${{ x }}'))).toBeUndefined();
  });

  it('reports an expression that is not closed', () => {
    expect(() => splitTemplateText("x ${{ 'a }}")).toThrow(expect.objectContaining({ offset: 2 }));
  });
});

describe('readDirective', () => {
  it.each([
    ['${{ if eq(a, b) }}', { kind: 'if', condition: ' eq(a, b) ', conditionOffset: 6 }],
    ['${{elseif x}}', { kind: 'elseif', condition: ' x', conditionOffset: 9 }],
    ['${{ else }}', { kind: 'else' }],
    ['${{ insert }}', { kind: 'insert' }],
    [
      '${{ each item in parameters.list }}',
      { kind: 'each', variable: 'item', collection: ' parameters.list ', collectionOffset: 16 },
    ],
    ['${{ parameters.key }}', undefined],
    ['plain', undefined],
  ])('%s', (key, expected) => {
    expect(readDirective(key)).toEqual(expected);
  });

  it.each([
    ['${{ if }}', 6, "'if' needs a condition"],
    ['${{ else if x }}', 8, "write 'elseif', not 'else if'"],
    ['${{ insert x }}', 10, "'insert' takes nothing after it"],
    ['${{ each in x }}', 4, "write 'each <name> in <expression>'"],
  ])('%s fails at %i: %s', (key, offset, detail) => {
    let caught: unknown;
    try {
      readDirective(key);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ExpressionError);
    expect(caught).toMatchObject({ offset, detail });
  });
});
