import { describe, expect, it } from 'vitest';
import { JUNIT, NUNIT2, NUNIT3, TRX, XUNIT2 } from './fixtures.js';
import { parseResults, ResultFileError } from './formats.js';
import { summarize } from './summary.js';

describe('test result formats', () => {
  it('JUnit: testcases under testsuites, failures and errors with messages, skipped, times', () => {
    const { cases, durationMs } = parseResults('JUnit', JUNIT);
    expect(cases).toEqual([
      { name: 'math.Add.adds', outcome: 'passed', durationMs: 500 },
      {
        name: 'math.Add.overflows',
        outcome: 'failed',
        durationMs: 1000,
        message: 'expected 3 but got 4',
        stackTrace: 'at add (math.js:3)',
      },
      { name: 'divides', outcome: 'failed', durationMs: 250, message: 'Division by zero' },
      { name: 'math.Add.later', outcome: 'skipped', durationMs: 0, message: 'not yet' },
    ]);
    expect(durationMs).toBe(2500);
  });

  it('JUnit: a single testsuite root', () => {
    const { cases } = parseResults('JUnit', '<testsuite><testcase name="a"/></testsuite>');
    expect(cases).toEqual([{ name: 'a', outcome: 'passed', durationMs: 0 }]);
  });

  it('NUnit 3', () => {
    const { cases, durationMs } = parseResults('NUnit', NUNIT3);
    expect(cases.map((c) => [c.name, c.outcome, c.durationMs, c.message])).toEqual([
      ['Lib.Tests.Passes', 'passed', 100, undefined],
      ['Lib.Tests.Fails', 'failed', 200, 'Expected: 1\n  But was: 2'],
      ['Lib.Tests.Ignored', 'skipped', 0, 'slow'],
    ]);
    expect(cases[1]?.stackTrace).toBe('at Lib.Tests.Fails()');
    expect(durationMs).toBe(1500);
  });

  it('NUnit 2', () => {
    const { cases, durationMs } = parseResults('NUnit', NUNIT2);
    expect(cases.map((c) => [c.name, c.outcome, c.message])).toEqual([
      ['Lib.A', 'passed', undefined],
      ['Lib.B', 'failed', 'boom'],
      ['Lib.C', 'skipped', 'later'],
    ]);
    expect(durationMs).toBe(750);
  });

  it('xUnit 2', () => {
    const { cases, durationMs } = parseResults('XUnit', XUNIT2);
    expect(cases.map((c) => [c.name, c.outcome, c.durationMs, c.message])).toEqual([
      ['T.Pass', 'passed', 100, undefined],
      ['T.Fail', 'failed', 300, 'Assert.Equal() Failure'],
      ['T.Skip', 'skipped', 0, 'flaky'],
    ]);
    expect(durationMs).toBe(900);
  });

  it('VSTest TRX', () => {
    const { cases, durationMs } = parseResults('VSTest', TRX);
    expect(cases.map((c) => [c.name, c.outcome, c.durationMs, c.message])).toEqual([
      ['Passes', 'passed', 150, undefined],
      ['Fails', 'failed', 1000, 'Assert.AreEqual failed. Expected:<1>. Actual:<2>.'],
      ['Skipped', 'skipped', 0, undefined],
    ]);
    expect(durationMs).toBe(2500);
  });

  it.each([
    ['JUnit', TRX, 'root element <TestRun> is not JUnit'],
    ['NUnit', JUNIT, 'neither NUnit 3 <test-run> nor NUnit 2 <test-results>'],
    ['XUnit', NUNIT3, 'root element <test-run> is not xUnit 2'],
    ['VSTest', XUNIT2, 'root element <assemblies> is not VSTest TRX'],
  ] as const)('%s refuses another format', (format, text, message) => {
    expect(() => parseResults(format, text)).toThrow(ResultFileError);
    expect(() => parseResults(format, text)).toThrow(message);
  });

  it('sums up: totals, the failures with their messages, the duration', () => {
    const { cases, durationMs } = parseResults('JUnit', JUNIT);
    expect(summarize('unit', 'JUnit', ['a.xml'], cases, durationMs)).toEqual({
      title: 'unit',
      format: 'JUnit',
      files: ['a.xml'],
      total: 4,
      passed: 1,
      failed: 2,
      skipped: 1,
      durationMs: 2500,
      failures: [
        { name: 'math.Add.overflows', message: 'expected 3 but got 4' },
        { name: 'divides', message: 'Division by zero' },
      ],
    });
  });
});
