import { describe, expect, it } from 'vitest';
import {
  createVariableLookup,
  expandMacros,
  expandVariables,
  MAX_EXPANDED_VALUE,
  toEnvName,
} from './macros.js';

describe('expandMacros', () => {
  const lookup = createVariableLookup({
    GREETING: 'hello',
    'Build.SourcesDirectory': '/work/1/s',
    'my-var_2': 'x',
    nested: '$(GREETING)',
    empty: '',
  });

  const cases: Array<[string, string]> = [
    ['echo $(GREETING)', 'echo hello'],
    ['echo $(greeting) $(Greeting)', 'echo hello hello'],
    ['cd $(build.sourcesdirectory)/src', 'cd /work/1/s/src'],
    ['$(my-var_2)$(my-var_2)', 'xx'],
    ['keep $(unknown) as written', 'keep $(unknown) as written'],
    ['shell $(date +%s) stays', 'shell $(date +%s) stays'],
    [`not a macro: $GREETING \${GREETING} $()`, `not a macro: $GREETING \${GREETING} $()`],
    ['one pass only: $(nested)', 'one pass only: $(GREETING)'],
    ['[$(empty)]', '[]'],
    ['$$(GREETING)', '$hello'],
  ];

  it.each(cases)('%s → %s', (text, expected) => {
    expect(expandMacros(text, lookup)).toBe(expected);
  });

  it('passes the name as written to the lookup', () => {
    const seen: string[] = [];
    expandMacros('$(Agent.Name) $(x)', (name) => {
      seen.push(name);
      return undefined;
    });
    expect(seen).toEqual(['Agent.Name', 'x']);
  });
});

describe('createVariableLookup', () => {
  it('ignores case and knows nothing else', () => {
    const lookup = createVariableLookup({ 'System.JobId': '42' });
    expect(lookup('SYSTEM.JOBID')).toBe('42');
    expect(lookup('system.jobid')).toBe('42');
    expect(lookup('toString')).toBeUndefined();
    expect(lookup('__proto__')).toBeUndefined();
  });
});

describe('toEnvName', () => {
  const cases: Array<[string, string]> = [
    ['Agent.WorkFolder', 'AGENT_WORKFOLDER'],
    ['system.jobId', 'SYSTEM_JOBID'],
    ['Build.Repository.LocalPath', 'BUILD_REPOSITORY_LOCALPATH'],
    ['my var', 'MY_VAR'],
    ['my-var_2', 'MY-VAR_2'],
    ['TF_BUILD', 'TF_BUILD'],
  ];

  it.each(cases)('%s → %s', (name, expected) => {
    expect(toEnvName(name)).toBe(expected);
  });
});

describe('expandVariables', () => {
  it('expands values that use other variables, predefined ones included, in any order', () => {
    expect(
      expandVariables({
        'System.DefaultWorkingDirectory': '/w/1/s',
        C: '$(g)/c',
        G: 'hello',
        GOPATH: '$(System.DefaultWorkingDirectory)/gopath',
        BIN: '$(GOPATH)/bin',
        shell: '$(date) $(unknown.var)',
      }),
    ).toEqual({
      'System.DefaultWorkingDirectory': '/w/1/s',
      C: 'hello/c',
      G: 'hello',
      GOPATH: '/w/1/s/gopath',
      BIN: '/w/1/s/gopath/bin',
      shell: '$(date) $(unknown.var)',
    });
  });

  it('leaves a cycle and a runaway expansion as written', () => {
    expect(expandVariables({ A: 'a$(B)', B: 'b$(A)', S: '$(S)' })).toEqual({
      A: 'ab$(A)',
      B: 'b$(A)',
      S: '$(S)',
    });
    const doubling: Record<string, string> = { V0: 'x'.repeat(1000) };
    for (let i = 1; i <= 40; i++) doubling[`V${i}`] = `$(V${i - 1})$(V${i - 1})`;
    const out = expandVariables(doubling);
    expect(out.V40!.length).toBeLessThanOrEqual(MAX_EXPANDED_VALUE);
    expect(out.V40).toContain('$(V39)');
  });
});
