import { describe, expect, it } from 'vitest';
import { buildNumberRevisionKey, DEFAULT_BUILD_NUMBER_FORMAT, formatBuildNumber } from './build-number.js';

const date = new Date(Date.UTC(2024, 1, 9, 7, 5, 3));

describe('formatBuildNumber', () => {
  const cases: Array<[string, number, string]> = [
    [DEFAULT_BUILD_NUMBER_FORMAT, 1, '20240209.1'],
    ['$(Date:yyyyMMdd)$(Rev:.r)', 12, '20240209.12'],
    ['$(Date:yyyy.M.d)-$(Rev:rr)', 3, '2024.2.9-03'],
    ['$(Date:yyMMdd.HHmmss)', 1, '240209.070503'],
    ['1.0.$(Rev:r)', 7, '1.0.7'],
    ['$(Year:yy)$(Month)$(DayOfMonth) $(DayOfYear) $(Hours):$(Minutes):$(Seconds)', 1, '240209 040 07:05:03'],
    ['$(Build.DefinitionName)_$(sourceBranchName)_$(unknown)', 1, 'ci_main_$(unknown)'],
  ];

  it.each(cases)('%s with rev %i is %s', (format, rev, expected) => {
    const variables = { 'Build.DefinitionName': 'ci', SourceBranchName: 'main' };
    expect(formatBuildNumber(format, { date, rev, variables })).toBe(expected);
  });

  it('keys revisions by everything but the revision, so a new day starts again', () => {
    const key = (d: Date) => buildNumberRevisionKey(DEFAULT_BUILD_NUMBER_FORMAT, { date: d });
    expect(key(date)).toBe('20240209.\u0000');
    expect(key(new Date(Date.UTC(2024, 1, 9, 23)))).toBe(key(date));
    expect(key(new Date(Date.UTC(2024, 1, 10)))).not.toBe(key(date));
  });

  it('bounds the length as Azure does', () => {
    expect(formatBuildNumber('x'.repeat(300), { date })).toHaveLength(255);
  });
});
