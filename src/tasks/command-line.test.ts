import { describe, expect, it } from 'vitest';
import { commandScript, patternList, showCommand, splitArguments } from './command-line.js';

describe('splitArguments', () => {
  it.each([
    ['', []],
    ['  --configuration Release  ', ['--configuration', 'Release']],
    ['-c Release\n--no-restore', ['-c', 'Release', '--no-restore']],
    ['--output "my out dir"', ['--output', 'my out dir']],
    ['-p:Title="a b"', ['-p:Title=a b']],
    ['"" x', ['', 'x']],
    ['"say \\"hi\\"" c:\\path', ['say "hi"', 'c:\\path']],
    ['$(rm -rf /); echo | cat', ['$(rm', '-rf', '/);', 'echo', '|', 'cat']],
  ])('%j → %j', (text, args) => {
    expect(splitArguments(text)).toEqual(args);
  });
});

describe('commandScript and showCommand', () => {
  it('quotes every argument for bash, credentials read from the environment, shown by name', () => {
    const args = ['push', "it's", { fromEnv: 'KEY' }, '$(whoami)'];
    expect(commandScript('nuget', args)).toBe(`'nuget' 'push' 'it'\\''s' "$KEY" '$(whoami)'`);
    expect(showCommand('nuget', args)).toBe(`nuget push 'it'\\''s' $KEY '$(whoami)'`);
  });
});

describe('patternList', () => {
  it('takes new lines and semicolons', () => {
    expect(patternList('a/*.nupkg;!a/*.symbols.nupkg\n\n b ')).toEqual([
      'a/*.nupkg',
      '!a/*.symbols.nupkg',
      'b',
    ]);
  });
});
