import { describe, expect, it } from 'vitest';
import { formatSeconds, parseDuration } from './duration.js';

const token = { unit: 'd', minSeconds: 1, maxSeconds: 366 * 86_400 } as const;

describe('parseDuration', () => {
  it.each([
    ['90s', 90],
    ['10m', 600],
    ['1h', 3600],
    ['30d', 2_592_000],
    ['7', 604_800],
  ])('%s is %i seconds', (text, seconds) => {
    expect(parseDuration('--expires', text, token)).toBe(seconds);
  });

  it('names the flag and the accepted range, never a wire field', () => {
    expect(() => parseDuration('--expires', '0d', token)).toThrow(
      "--expires '0d': must be between 1s and 366d",
    );
    expect(() => parseDuration('--expires', '1s', { unit: 'm', minSeconds: 10, maxSeconds: 3600 })).toThrow(
      "--expires '1s': must be between 10s and 1h",
    );
    expect(() => parseDuration('--expires', 'soon', token)).toThrow(
      "--expires 'soon': expected a duration such as 90s, 10m, 1h or 30d",
    );
  });

  it('formats seconds in the largest exact unit', () => {
    expect([formatSeconds(86_400), formatSeconds(7200), formatSeconds(120), formatSeconds(61)]).toEqual([
      '1d',
      '2h',
      '2m',
      '61s',
    ]);
  });
});
