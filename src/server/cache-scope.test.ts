import { describe, expect, it } from 'vitest';
import { cacheScopes } from './cache-scope.js';

const main = 'refs/heads/main';
const feature = 'refs/heads/feature';

describe('cacheScopes', () => {
  it.each([
    [
      'a trusted run of the default branch',
      { branch: main, defaultBranch: main },
      false,
      `branch:${main}`,
      [`branch:${main}`],
    ],
    [
      'a trusted run of another branch reads its own, then the default branch',
      { branch: feature, defaultBranch: main },
      false,
      `branch:${feature}`,
      [`branch:${feature}`, `branch:${main}`],
    ],
    [
      'a run whose default branch is unknown reads only its own',
      { branch: feature },
      false,
      `branch:${feature}`,
      [`branch:${feature}`],
    ],
    [
      'an untrusted run writes a scope of its own and may read what trusted runs wrote',
      { branch: feature, defaultBranch: main },
      true,
      `untrusted:${feature}`,
      [`untrusted:${feature}`, `branch:${feature}`, `branch:${main}`],
    ],
    [
      'an untrusted run of the default branch still writes no trusted scope',
      { branch: main, defaultBranch: main },
      true,
      `untrusted:${main}`,
      [`untrusted:${main}`, `branch:${main}`],
    ],
    ['a folder outside git', { repository: 'app' }, false, 'folder:app', ['folder:app']],
    [
      'an untrusted folder run',
      { repository: 'app' },
      true,
      'untrusted-folder:app',
      ['untrusted-folder:app', 'folder:app'],
    ],
  ])('%s', (_what, source, untrusted, write, read) => {
    expect(cacheScopes({ source, untrusted })).toEqual({ write, read });
  });

  it('never lets a trusted run read a scope an untrusted run writes', () => {
    const sources = [
      { branch: main, defaultBranch: main },
      { branch: feature, defaultBranch: main },
      { branch: feature },
      { repository: 'app' },
      {},
    ];
    const untrustedWrites = new Set(sources.map((source) => cacheScopes({ source, untrusted: true }).write));
    for (const source of sources) {
      const { read, write } = cacheScopes({ source, untrusted: false });
      expect(read.filter((s) => untrustedWrites.has(s))).toEqual([]);
      expect(untrustedWrites.has(write)).toBe(false);
    }
  });
});
