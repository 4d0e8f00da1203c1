import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runView } from '../protocol/schemas.js';
import { runCli, serverWithAgent, spawnCli } from '../test-support/harness.js';
import { JUNIT, NUNIT2, NUNIT3, TRX, XUNIT2 } from './test-results/fixtures.js';

const server = serverWithAgent('tests-agent');

async function workspace(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-tests-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

async function lastRun() {
  const { body } = await server().client.request<unknown[]>('runs?limit=1', { token: server().adminToken });
  return runView.parse(body[0]);
}

const PIPELINE = `
jobs:
- job: tests
  steps:
  - task: PublishTestResults@2
    displayName: JUnit
    inputs:
      testRunner: junit
      testResultsFiles: '**/TEST-*.xml'
      testRunTitle: Unit $(Build.BuildId)
  - task: PublishTestResults@2
    displayName: NUnit merged
    inputs:
      testResultsFormat: NUnit
      searchFolder: $(Build.SourcesDirectory)/nunit
      testResultsFiles: |
        *.xml
        !ignored.xml
      mergeTestResults: TRUE
      testRunTitle: NUnit
  - task: PublishTestResults@2
    inputs: { testResultsFormat: VSTest, testResultsFiles: '**/*.trx' }
  - task: PublishTestResults@2
    inputs: { testResultsFormat: XUnit, testResultsFiles: xunit/*.xml }
- job: gate
  dependsOn: tests
  steps:
  - task: PublishTestResults@2
    inputs:
      testResultsFiles: gate/*.xml
      failTaskOnFailedTests: true
`;

it('publishes JUnit, NUnit 2 and 3 (merged), TRX and xUnit results into the run summary, the CLI and the API', async () => {
  const dir = await workspace({
    'azure-pipelines.yml': PIPELINE,
    'build/TEST-unit.xml': JUNIT,
    'build/TEST-broken.xml': '<testsuite><testcase name="a"></testsuite>',
    'nunit/three.xml': NUNIT3,
    'nunit/two.xml': NUNIT2,
    'nunit/ignored.xml': 'not xml at all',
    'results/run.trx': TRX,
    'xunit/a.xml': XUNIT2,
    'gate/gate.xml':
      '<testsuite><testcase name="gate.ok"/><testcase name="gate.bad"><failure message="no"/></testcase></testsuite>',
  });
  const { code, output } = await runCli(server(), ['--dir', dir]);
  // A malformed file is a warning naming it; the step goes on with the other files.
  expect(output).toContain(
    "warning: build/TEST-broken.xml is not a readable JUnit result file: line 1, column 31: closing tag 'testsuite' does not match",
  );
  expect(output).toMatch(/Test run 'Unit \d+': 4 tests, 1 passed, 2 failed, 1 skipped in 2\.5s/);
  expect(output).toContain("Test run 'NUnit': 6 tests, 2 passed, 2 failed, 2 skipped in 2.3s");
  expect(output).toContain('  failed: math.Add.overflows — expected 3 but got 4');
  // The run summary: totals over every job, each run, the failures with their messages.
  expect(output).toContain('Tests: 18 total, 6 passed, 7 failed, 5 skipped in 8.2s');
  expect(output).toContain('  tests · results/run.trx: 3 tests, 1 passed, 1 failed, 1 skipped (2.5s)');
  expect(output).toContain('  ✘ Lib.Tests.Fails: Expected: 1');
  expect(output).toContain('  ✘ T.Fail: Assert.Equal() Failure');
  // failTaskOnFailedTests fails the step, and so the run.
  expect(output).toContain('1 test failed (failTaskOnFailedTests)');
  expect(code).toBe(1);

  const run = await lastRun();
  const [tests, gate] = run.jobs;
  expect(tests?.result).toBe('succeededWithIssues');
  expect(tests?.testRuns?.map((t) => [t.title, t.format, t.files, t.total, t.failed, t.durationMs])).toEqual([
    [expect.stringMatching(/^Unit \d+$/), 'JUnit', ['build/TEST-unit.xml'], 4, 2, 2500],
    ['NUnit', 'NUnit', ['nunit/three.xml', 'nunit/two.xml'], 6, 2, 2250],
    ['results/run.trx', 'VSTest', ['results/run.trx'], 3, 1, 2500],
    ['xunit/a.xml', 'XUnit', ['xunit/a.xml'], 3, 1, 900],
  ]);
  expect(tests?.testRuns?.[0]?.failures).toEqual([
    { name: 'math.Add.overflows', message: 'expected 3 but got 4' },
    { name: 'divides', message: 'Division by zero' },
  ]);
  expect(gate).toMatchObject({ result: 'failed' });
  expect(gate?.steps[0]).toMatchObject({ result: 'failed', reason: '1 test failed (failTaskOnFailedTests)' });
  expect(gate?.testRuns?.[0]).toMatchObject({
    total: 2,
    failed: 1,
    failures: [{ name: 'gate.bad', message: 'no' }],
  });
});

it('warns when no file matches, and fails when failTaskOnMissingResultsFile says so', async () => {
  const dir = await workspace({
    'azure-pipelines.yml': `
steps:
- task: PublishTestResults@2
- task: PublishTestResults@2
  inputs: { testResultsFiles: 'none/*.xml', failTaskOnMissingResultsFile: true }
`,
  });
  const { code, output } = await runCli(server(), ['--dir', dir]);
  expect(output).toMatch(/warning: no test result files match \*\*\/TEST-\*\.xml in \S+/);
  expect(output).toMatch(/no test result files match none\/\*\.xml in/);
  expect(code).toBe(1);
});

it('validate lists every unsupported task with its place and exits 2; --allow-unsupported-tasks runs each as a failing step', async () => {
  const dir = await workspace({
    'azure-pipelines.yml': `
steps:
- task: NoSuchTask@1
- task: PublishTestResults@3
- task: PublishTestResults@2
  inputs: { testResultsFormat: TAP }
`,
  });
  const validate = spawnCli(['validate', 'azure-pipelines.yml'], {}, dir);
  expect(await validate.exited).toBe(2);
  expect(validate.output()).toContain(
    'azure-pipelines.yml:3:3: task \'NoSuchTask@1\' is not supported by Slipway (its tasks are listed in the README, "Tasks") (or run with --allow-unsupported-tasks: it becomes a failing step)',
  );
  expect(validate.output()).toContain(
    "azure-pipelines.yml:4:3: task 'PublishTestResults@3' is not supported by Slipway; it has PublishTestResults@2",
  );
  expect(validate.output()).toContain(
    "azure-pipelines.yml:5:3: task 'PublishTestResults@2': input 'testResultsFormat' must be one of JUnit, NUnit, VSTest, XUnit, found 'TAP'",
  );

  await writeFile(
    join(dir, 'azure-pipelines.yml'),
    'steps:\n- task: NoSuchTask@1\n- script: echo after\n  condition: always()\n',
  );
  const allowed = spawnCli(['validate', '--allow-unsupported-tasks', 'azure-pipelines.yml'], {}, dir);
  expect(await allowed.exited).toBe(0);
  expect(allowed.output()).toContain(
    "azure-pipelines.yml:2:3: note: task 'NoSuchTask@1' is not supported by Slipway",
  );

  const refused = await runCli(server(), ['--dir', dir]);
  expect(refused.code).toBe(2);
  const { code, output } = await runCli(server(), ['--dir', dir, '--allow-unsupported-tasks']);
  expect(output).toContain("error: NoSuchTask: task 'NoSuchTask@1' is not supported by Slipway");
  expect(output).toContain('after');
  expect(code).toBe(1);
});
