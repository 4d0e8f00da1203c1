import { describe, expect, it } from 'vitest';
import { errorsOf, lines, planOf } from './test-support.js';

describe('steps', () => {
  it('reads checkout, pwsh, powershell, publish and download steps', () => {
    const plan = planOf(
      lines(
        'jobs:',
        '- job: build',
        '  steps:',
        '  - checkout: self',
        '    clean: true',
        '    fetchDepth: 1',
        '    fetchTags: false',
        '    lfs: true',
        '    submodules: recursive',
        '    persistCredentials: true',
        '    path: src',
        '  - pwsh: Write-Host hi',
        '    errorActionPreference: Continue',
        '    ignoreLASTEXITCODE: true',
        '    failOnStderr: true',
        '  - powershell: Get-Date',
        '    retryCountOnTaskFailure: 3',
        '  - publish: $(Build.ArtifactStagingDirectory)/app',
        '    artifact: drop',
        '    publishLocation: pipeline',
        '  - publish: out/report.html',
        '- job: use',
        '  dependsOn: build',
        '  steps:',
        '  - checkout: none',
        '  - download: current',
        '    artifact: drop',
        "    patterns: '**/*.tgz'",
        '    path: $(Pipeline.Workspace)/in',
        '  - download: current',
        '  - download: none',
        '  - bash: ls',
        '    failOnStderr: false',
      ),
    );
    const [build, use] = plan.jobs;
    const common = { env: {}, continueOnError: false, timeoutInMinutes: 0, condition: 'succeeded()' };
    expect(build?.steps).toEqual([
      {
        kind: 'checkout',
        script: '',
        displayName: 'Checkout self',
        checkout: {
          clean: true,
          fetchDepth: 1,
          fetchTags: false,
          lfs: true,
          submodules: 'recursive',
          persistCredentials: true,
          path: 'src',
        },
        ...common,
        pos: { line: 4, col: 5 },
      },
      {
        kind: 'pwsh',
        script: 'Write-Host hi',
        displayName: 'Run: Write-Host hi',
        errorActionPreference: 'continue',
        ignoreLASTEXITCODE: true,
        failOnStderr: true,
        ...common,
        pos: { line: 12, col: 5 },
      },
      {
        kind: 'pwsh',
        script: 'Get-Date',
        displayName: 'Run: Get-Date',
        errorActionPreference: 'stop',
        retryCountOnTaskFailure: 3,
        ...common,
        pos: { line: 16, col: 5 },
      },
      {
        kind: 'publish',
        script: '',
        displayName: "Publish artifact 'drop'",
        publish: { path: '$(Build.ArtifactStagingDirectory)/app', artifact: 'drop' },
        ...common,
        pos: { line: 18, col: 5 },
      },
      {
        kind: 'publish',
        script: '',
        displayName: 'Publish out/report.html',
        publish: { path: 'out/report.html', artifact: 'build' },
        ...common,
        pos: { line: 21, col: 5 },
      },
    ]);
    expect(build?.checkout).toBeUndefined();
    expect(use?.checkout).toBe('none');
    expect(use?.steps.map((s) => [s.kind, s.displayName, s.download, s.failOnStderr])).toEqual([
      [
        'download',
        "Download artifact 'drop'",
        { artifact: 'drop', patterns: '**/*.tgz', path: '$(Pipeline.Workspace)/in' },
        undefined,
      ],
      ['download', 'Download artifacts', { patterns: '**' }, undefined],
      ['bash', 'Run: ls', undefined, false],
    ]);
  });

  it('names default artifacts after the plan name of each leg', () => {
    const plan = planOf(lines('strategy: { matrix: { a: {}, b: {} } }', 'steps:', '- publish: out'));
    expect(plan.jobs.map((j) => j.steps[0]?.publish?.artifact)).toEqual(['job_a', 'job_b']);
  });

  it.each([
    [
      '- checkout: tools',
      "p.yml:2:13: checking out repository 'tools' is not supported yet by Slipway (only 'self', the run's workspace, and 'none')",
    ],
    [
      '- download: upstream',
      "p.yml:2:13: downloading artifacts of pipeline resource 'upstream' is not supported yet by Slipway (only 'current')",
    ],
    [
      '- { publish: out, publishLocation: filepath }',
      "p.yml:2:36: publishLocation 'filepath' is not supported yet by Slipway (only 'pipeline')",
    ],
    [
      '- { script: x, retryCountOnTaskFailure: 11 }',
      "p.yml:2:41: 'retryCountOnTaskFailure' must be a whole number from 0 to 10, found '11'",
    ],
    [
      '- { pwsh: x, errorActionPreference: maybe }',
      "p.yml:2:37: 'errorActionPreference' must be one of stop, continue, silentlyContinue, found 'maybe'",
    ],
    [
      '- { checkout: self, submodules: some }',
      "p.yml:2:33: 'submodules' must be true, false or recursive, found 'some'",
    ],
    [
      '- { checkout: self, fetchDepth: -1 }',
      "p.yml:2:33: 'fetchDepth' must be a whole number from 0 to 1000000, found '-1'",
    ],
    ['- { script: x, clean: true }', "p.yml:2:16: unknown key 'clean' in script step"],
    ['- { bash: x, noProfile: false }', "p.yml:2:14: 'noProfile' is not supported yet by Slipway"],
    [
      '- task: PublishBuildArtifacts@1',
      "p.yml:2:3: task 'PublishBuildArtifacts@1' is not supported by Slipway (or run with --allow-unsupported-tasks: it becomes a failing step)",
    ],
  ])('%s', (step, expected) => {
    expect(errorsOf(lines('steps:', step))).toEqual([expected]);
  });
});
