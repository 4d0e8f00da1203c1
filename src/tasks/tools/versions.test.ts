import { describe, expect, it } from 'vitest';
import { highestMatch, isVersionSpec, satisfies } from './versions.js';

describe('version specs', () => {
  it.each([
    ['3.11.4', '3.x', true],
    ['3.11.4', '3', true],
    ['3.11.4', '3.11', true],
    ['3.11.4', '3.11.x', true],
    ['3.11.4', '3.10', false],
    ['3.11.4', '3.11.4', true],
    ['3.11.4', '>=3.8', true],
    ['3.7.1', '>=3.8', false],
    ['3.11.4', '>=3.8 <3.11', false],
    ['18.17.0', '^18.2', true],
    ['19.0.0', '^18.2', false],
    ['18.17.0', '~18.17', true],
    ['18.18.0', '~18.17', false],
    ['v20.20.2', '20.x', true],
    ['1.21.0', 'latest', true],
  ])('%s satisfies %s: %s', (version, spec, expected) => {
    expect(satisfies(version, spec)).toBe(expected);
  });

  it('picks the highest match and refuses what is no spec', () => {
    expect(highestMatch(['3.9.1', '3.11.4', '3.10.2', '2.7.18'], '3.x')).toBe('3.11.4');
    expect(highestMatch(['3.9.1'], '3.11')).toBeUndefined();
    expect(isVersionSpec('three')).toBe(false);
    expect(isVersionSpec('>= 3.8')).toBe(false);
    expect(isVersionSpec('>=3.8')).toBe(true);
  });
});
