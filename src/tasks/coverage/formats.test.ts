import { describe, expect, it } from 'vitest';
import { COBERTURA, COBERTURA_OLD, JACOCO } from './fixtures.js';
import { parseCoverage } from './formats.js';
import { formatCounter } from './summary.js';

describe('coverage summaries', () => {
  it.each([
    ['Cobertura', 'Cobertura', COBERTURA, { covered: 8, total: 10 }, { covered: 1, total: 2 }],
    [
      'Cobertura 1.9 (rates only)',
      'Cobertura',
      COBERTURA_OLD,
      { covered: 1, total: 2 },
      { covered: 1, total: 4 },
    ],
    [
      'JaCoCo (the report counters, not the packages)',
      'JaCoCo',
      JACOCO,
      { covered: 9, total: 12 },
      { covered: 2, total: 4 },
    ],
    [
      'Cobertura, told by the file',
      undefined,
      COBERTURA,
      { covered: 8, total: 10 },
      { covered: 1, total: 2 },
    ],
    ['JaCoCo, told by the file', undefined, JACOCO, { covered: 9, total: 12 }, { covered: 2, total: 4 }],
  ] as const)('%s', (_, tool, xml, lines, branches) => {
    expect(parseCoverage(tool, xml)).toMatchObject({ lines, branches });
  });

  it.each([
    ['JaCoCo', COBERTURA, 'it is a Cobertura summary, not JaCoCo (codeCoverageTool)'],
    [
      undefined,
      '<testsuite/>',
      "its root element is <testsuite>, not Cobertura's <coverage> or JaCoCo's <report>",
    ],
    [
      'Cobertura',
      '<coverage lines-valid="ten" lines-covered="1"/>',
      "lines-valid must be a whole number, found 'ten'",
    ],
    [
      'Cobertura',
      '<coverage><packages></coverage>',
      "line 1, column 21: closing tag 'coverage' does not match",
    ],
  ] as const)('%s over a wrong file names what is wrong', (tool, xml, message) => {
    expect(() => parseCoverage(tool, xml)).toThrow(message);
  });

  it('shows a counter as a rate with its counts', () => {
    expect(formatCounter({ covered: 8, total: 10 })).toBe('80.0% (8/10)');
    expect(formatCounter({ covered: 2, total: 3 })).toBe('66.7% (2/3)');
    expect(formatCounter({ covered: 0, total: 0 })).toBe('none');
  });
});
