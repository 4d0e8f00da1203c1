import { describe, expect, it } from 'vitest';
import { globToRegExp, matchPaths } from './glob.js';

describe('file patterns', () => {
  const paths = [
    'TEST-a.xml',
    'out/TEST-b.xml',
    'out/deep/TEST-c.xml',
    'out/.hidden/TEST-d.xml',
    'out/notes.txt',
    'src/main.c',
    'src/main.h',
  ];

  it.each([
    ['**/TEST-*.xml', ['TEST-a.xml', 'out/TEST-b.xml', 'out/deep/TEST-c.xml', 'out/.hidden/TEST-d.xml']],
    ['out/*', ['out/TEST-b.xml', 'out/notes.txt']],
    ['out/**', ['out/TEST-b.xml', 'out/deep/TEST-c.xml', 'out/.hidden/TEST-d.xml', 'out/notes.txt']],
    ['src/main.{c,h}', ['src/main.c', 'src/main.h']],
    ['src/main.[!c]', ['src/main.h']],
    ['?EST-a.xml', ['TEST-a.xml']],
    ['**', paths],
  ])('%s', (pattern, expected) => {
    expect(matchPaths(paths, [pattern])).toEqual(expected);
  });

  it('applies excludes in order', () => {
    expect(matchPaths(paths, ['**/*.xml', '!out/**', 'out/deep/*'])).toEqual([
      'TEST-a.xml',
      'out/deep/TEST-c.xml',
    ]);
  });

  it('escapes what is not a pattern character', () => {
    expect(globToRegExp('a+b(c).txt').test('a+b(c).txt')).toBe(true);
    expect(globToRegExp('a.txt').test('abtxt')).toBe(false);
  });
});
