import { describe, expect, it } from 'vitest';
import { checkPipeline } from './parse-pipeline.js';
import type { TaskCatalog } from './read-task.js';
import { errorsOf, lines, planOf } from './test-support.js';

/** Knows Copy@2 with inputs `from` (required) and `flat` (true or false). */
const catalog: TaskCatalog = {
  check(call) {
    if (call.name !== 'Copy' || call.version !== 2)
      return { unsupported: `task '${call.name}@${call.version}' is not supported by Slipway`, problems: [] };
    const problems: string[] = [];
    if (!('from' in call.inputs)) problems.push("input 'from' is required");
    const flat = call.inputs.flat;
    if (flat !== undefined && !/^(true|false|\$\(.*\))$/i.test(flat))
      problems.push("input 'flat' must be true or false");
    return { problems };
  },
};

describe('task steps', () => {
  it('reads the task, its version and its inputs as text, with the common keys', () => {
    const plan = planOf(
      lines(
        'steps:',
        '- task: Copy@2',
        '  name: copy',
        '  displayName: Copy things',
        '  continueOnError: true',
        '  inputs:',
        '    from: $(Build.SourcesDirectory)/out',
        '    flat: true',
        '    count: 3',
      ),
      {},
      { tasks: catalog },
    );
    expect(plan.jobs[0]?.steps[0]).toMatchObject({
      kind: 'task',
      script: '',
      name: 'copy',
      displayName: 'Copy things',
      continueOnError: true,
      task: {
        name: 'Copy',
        version: 2,
        inputs: { from: '$(Build.SourcesDirectory)/out', flat: 'true', count: '3' },
        pos: { line: 2, col: 3 },
      },
    });
  });

  it.each([
    [
      '- task: Nope@1',
      "p.yml:2:3: task 'Nope@1' is not supported by Slipway (or run with --allow-unsupported-tasks: it becomes a failing step)",
    ],
    ['- task: Copy', "p.yml:2:9: task 'Copy' must be written 'Name@<major version>' (e.g. 'CopyFiles@2')"],
    ['- { task: Copy@2, inputs: { flat: maybe } }', "p.yml:2:5: task 'Copy@2': input 'from' is required"],
    [
      '- { task: Copy@2, inputs: [a] }',
      "p.yml:2:27: 'inputs' must be a mapping of names to strings, found a sequence",
    ],
    ['- { task: Copy@2, script: x, inputs: { from: a } }', "p.yml:2:19: unknown key 'script' in task step"],
  ])('%s', (step, expected) => {
    expect(errorsOf(lines('steps:', step), {}, { tasks: catalog })[0]).toBe(expected);
  });

  it('lists every unsupported task with its place, across jobs and templates', () => {
    const text = lines(
      'jobs:',
      '- job: a',
      '  steps:',
      '  - task: Nope@1',
      '  - task: Copy@2',
      '    inputs: { from: x }',
      '- job: b',
      '  steps:',
      '  - task: Other@3',
    );
    expect(errorsOf(text, {}, { tasks: catalog })).toEqual([
      "p.yml:4:5: task 'Nope@1' is not supported by Slipway (or run with --allow-unsupported-tasks: it becomes a failing step)",
      "p.yml:9:5: task 'Other@3' is not supported by Slipway (or run with --allow-unsupported-tasks: it becomes a failing step)",
    ]);
  });

  it('with allowUnsupportedTasks, keeps an unsupported task as a step that fails, and notes it', () => {
    const text = lines('steps:', '- task: Nope@1', '- { task: Copy@2, inputs: { from: x, flat: $(flat) } }');
    const { errors, notes } = checkPipeline(text, 'p.yml', { tasks: catalog, allowUnsupportedTasks: true });
    expect(errors).toEqual([]);
    expect(notes.map((n) => n.message)).toEqual([
      "p.yml:2:3: task 'Nope@1' is not supported by Slipway; it runs as a step that fails (--allow-unsupported-tasks)",
    ]);
    const plan = planOf(text, {}, { tasks: catalog, allowUnsupportedTasks: true });
    expect(plan.jobs[0]?.steps[0]?.task?.unsupported).toBe("task 'Nope@1' is not supported by Slipway");
    expect(plan.jobs[0]?.steps[1]?.task?.unsupported).toBeUndefined();
  });
});
