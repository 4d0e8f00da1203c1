import { describe, expect, it } from 'vitest';
import { checkInputs, findTask, taskCatalog } from './registry.js';

describe('task registry', () => {
  it('finds tasks by name (any case) and major version', () => {
    expect(findTask('publishtestresults', 2)?.name).toBe('PublishTestResults');
    expect(findTask('PublishTestResults', 1)).toBeUndefined();
  });

  it('names the versions it has of a task asked for in another', () => {
    expect(taskCatalog.check({ name: 'PublishTestResults', version: 1, inputs: {} })).toEqual({
      unsupported: "task 'PublishTestResults@1' is not supported by Slipway; it has PublishTestResults@2",
      problems: [],
    });
  });

  it('takes aliases and names in any case, true/false strings, and leaves macros to the agent', () => {
    const task = findTask('PublishTestResults', 2)!;
    expect(
      checkInputs(task, { testRunner: 'nunit', FAILTASKONFAILEDTESTS: 'True', mergeTestResults: '$(merge)' }),
    ).toEqual([]);
    expect(checkInputs(task, { testRunner: '$(format)' })).toEqual([]);
  });

  it('names wrong inputs', () => {
    const task = findTask('PublishTestResults', 2)!;
    expect(
      checkInputs(task, { testResultsFormat: 'TAP', failTaskOnFailedTests: 'yes', colour: 'red' }),
    ).toEqual([
      expect.stringMatching(/^unknown input 'colour' \(inputs: testResultsFormat, testResultsFiles, /),
      "input 'testResultsFormat' must be one of JUnit, NUnit, VSTest, XUnit, found 'TAP'",
      "input 'failTaskOnFailedTests' must be true or false, found 'yes'",
    ]);
  });
});
