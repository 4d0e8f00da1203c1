import { describe, expect, it } from 'vitest';
import { errorsOf, lines, planOf } from './test-support.js';

describe('files as editors and people write them', () => {
  it('reads CRLF line ends, also in block scalars, and reports positions by line', () => {
    const text =
      'steps:\r\n- script: |\r\n    echo one\r\n    echo two\r\n  displayName: Two\r\n- bash: x\r\n  timeoutInMinutes: soon\r\n';
    expect(errorsOf(text)).toEqual([
      "p.yml:7:21: 'timeoutInMinutes' must be a number of minutes from 0 to 1000000, found 'soon'",
    ]);
    const plan = planOf(text.replace('soon', '5'));
    expect(plan.jobs[0]?.steps.map((s) => [s.script, s.displayName])).toEqual([
      ['echo one\necho two\n', 'Two'],
      ['x', 'Run: x'],
    ]);
  });

  it('reads a byte-order mark without shifting columns on line 1', () => {
    expect(errorsOf('\uFEFFfoo: 1\nsteps: [{ script: x }]\n')).toEqual([
      "p.yml:1:1: unknown key 'foo' in pipeline",
    ]);
    expect(planOf('\uFEFF\r\nsteps: [{ script: x }]').jobs).toHaveLength(1);
  });

  it('accepts tabs where YAML allows them and says where they are not', () => {
    const plan = planOf(
      'steps:\n- script:\techo\ttab\t# a comment\n  displayName:\t"Tab\\tbed"\n- bash: |\n    printf "a\tb"\n',
    );
    expect(plan.jobs[0]?.steps.map((s) => [s.script, s.displayName])).toEqual([
      ['echo\ttab', 'Tab\tbed'],
      ['printf "a\tb"\n', 'Run: printf "a\tb"'],
    ]);
    expect(errorsOf('steps:\n-\tscript: x\n')).toEqual([
      'p.yml:2:2: invalid YAML: Tabs are not allowed as indentation',
    ]);
  });

  it('keeps non-ASCII text and counts columns as editors do', () => {
    const plan = planOf(
      lines(
        'variables: { Greeting: "héllo 👋" }',
        'steps:',
        '- script: echo "$(Greeting) 日本語"',
        '  displayName: Ünïcödé ✓',
      ),
    );
    expect(plan.variables).toEqual({ Greeting: 'héllo 👋' });
    expect(plan.jobs[0]?.steps[0]).toMatchObject({
      script: 'echo "$(Greeting) 日本語"',
      displayName: 'Ünïcödé ✓',
    });
    expect(errorsOf(lines('steps:', '- { displayName: "日本語", timeoutInMinutes: x, script: y }'))).toEqual([
      "p.yml:2:43: 'timeoutInMinutes' must be a number of minutes from 0 to 1000000, found 'x'",
    ]);
  });

  it('reads a file without a trailing newline, and reports errors on its last line', () => {
    expect(planOf('steps:\n- script: echo end').jobs[0]?.steps[0]?.script).toBe('echo end');
    expect(errorsOf('steps:\n- script: x\n  enabled: perhaps')).toEqual([
      "p.yml:3:12: 'enabled' must be true or false, found 'perhaps'",
    ]);
  });

  it('reads a pipeline written entirely in flow style, with comments, markers and quoted keys', () => {
    const plan = planOf(
      lines(
        '%YAML 1.2',
        '--- # the pipeline',
        '{ "variables": { a: 1 }, jobs: [ # jobs follow',
        '  { job: a, steps: [ { script: x } ] },',
        "  { 'job': b, dependsOn: [a], steps: [ { bash: y, env: { K: V } } ] }",
        '] }',
        '...',
      ),
    );
    expect(plan.jobs.map((j) => [j.name, j.dependsOn, j.steps[0]?.env])).toEqual([
      ['a', [], {}],
      ['b', ['a'], { K: 'V' }],
    ]);
  });

  it('reads conditions written as block scalars, literal or folded', () => {
    const plan = planOf(
      lines(
        'steps:',
        '- script: a',
        '  condition: |',
        '    and(',
        '      succeeded(),',
        "      eq(variables['Build.Reason'], 'Manual')",
        '    )',
        '- script: b',
        '  condition: >-',
        '    or(failed(),',
        '    canceled())',
      ),
    );
    expect(plan.jobs[0]?.steps.map((s) => s.condition)).toEqual([
      "and(\n  succeeded(),\n  eq(variables['Build.Reason'], 'Manual')\n)\n",
      'or(failed(), canceled())',
    ]);
    expect(
      errorsOf(lines('steps:', '- script: a', '  condition: |', '    and(', '      succeeded()')),
    ).toEqual(["p.yml:3:14: invalid condition: expected ',' or ')', found end of expression"]);
  });
});
