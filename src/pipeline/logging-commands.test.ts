import { describe, expect, it } from 'vitest';
import { mayBecomeCommand, parseLoggingCommand } from './logging-commands.js';

describe('parseLoggingCommand', () => {
  it.each([
    [
      '##vso[task.setvariable variable=myVar;isOutput=true]some value',
      {
        kind: 'vso',
        area: 'task',
        action: 'setvariable',
        properties: { variable: 'myVar', isoutput: 'true' },
        message: 'some value',
      },
    ],
    [
      '  ##vso[task.logissue type=warning;sourcepath=a.c;linenumber=3]look %3B here%0Anext',
      {
        kind: 'vso',
        area: 'task',
        action: 'logissue',
        properties: { type: 'warning', sourcepath: 'a.c', linenumber: '3' },
        message: 'look ; here\nnext',
      },
    ],
    [
      '##vso[task.complete result=Failed;]done',
      { kind: 'vso', area: 'task', action: 'complete', properties: { result: 'Failed' }, message: 'done' },
    ],
    [
      '##vso[build.addbuildtag]nightly',
      { kind: 'vso', area: 'build', action: 'addbuildtag', properties: {}, message: 'nightly' },
    ],
    ['##[group]Install', { kind: 'format', name: 'group', message: 'Install' }],
    ['##[error]boom', { kind: 'format', name: 'error', message: 'boom' }],
  ])('%s', (line, expected) => {
    expect(parseLoggingCommand(line)).toEqual(expected);
  });

  it.each(['hello', '# not a command', '##[nonsense]x', '##vso[broken', 'echo ##vso[task.complete]'])(
    'ignores %s',
    (line) => {
      expect(parseLoggingCommand(line)).toBeNull();
    },
  );

  it('knows which partial lines to hold back', () => {
    expect(mayBecomeCommand('##v')).toBe(true);
    expect(mayBecomeCommand('  #')).toBe(true);
    expect(mayBecomeCommand('progress 10%')).toBe(false);
  });
});
