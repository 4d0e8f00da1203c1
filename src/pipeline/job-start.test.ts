import { describe, expect, it } from 'vitest';
import { type FinishedJob, prepareJobStart } from './job-start.js';
import { lines, planOf } from './test-support.js';
import type { JobPlan, PipelinePlan, TaskResult } from './types.js';

const STAGED = lines(
  'stages:',
  '- stage: build',
  '  jobs:',
  '  - job: compile',
  '    strategy: { matrix: { linux: { os: l }, mac: { os: m } } }',
  '    steps: [{ script: x, name: setver }]',
  '  - job: lint',
  '    condition: always()',
  '    steps: [{ script: x }]',
  '  - job: report',
  '    dependsOn: compile',
  "    condition: eq(dependencies.compile.outputs['linux.setver.version'], '1.2')",
  '    variables:',
  "      ver: $[ dependencies.compile.outputs['mac.setver.version'] ]",
  '    steps: [{ script: x }]',
  '- stage: deploy',
  "  condition: and(succeeded(), eq(dependencies.build.outputs['compile.linux.setver.version'], '1.2'))",
  '  jobs:',
  '  - deployment: web',
  '    environment: prod',
  '    variables:',
  "      fromBuild: $[ stageDependencies.build.compile.outputs['linux.setver.version'] ]",
  '      upper: $[ upper(variables.fromBuild) ]',
  '    strategy: { runOnce: { deploy: { steps: [{ script: x, name: push }] } } }',
  '  - job: after',
  '    dependsOn: web',
  "    condition: eq(dependencies.web.outputs['web.push.url'], 'u')",
  '    steps: [{ script: x }]',
  '- stage: cleanup',
  '  dependsOn: [build, deploy]',
  '  condition: always()',
  '  jobs:',
  '  - job: sweep',
  '    steps: [{ script: x }]',
);

function find(plan: PipelinePlan, name: string): JobPlan {
  const job = plan.jobs.find((j) => j.name === name);
  if (!job) throw new Error(`no job ${name}`);
  return job;
}

describe('prepareJobStart', () => {
  const plan = planOf(STAGED);
  const done = (name: string, result: TaskResult, outputs?: Record<string, string>): FinishedJob => ({
    plan: find(plan, name),
    result,
    ...(outputs ? { outputs } : {}),
  });
  const build = [
    done('build.compile_linux', 'succeeded', { 'setver.version': '1.2' }),
    done('build.compile_mac', 'succeeded', { 'setver.version': '1.3' }),
    done('build.lint', 'failed'),
  ];

  it('reads legs as one job: outputs by leg, the worst result', () => {
    const start = prepareJobStart(find(plan, 'build.report'), { finished: build, variables: {} });
    expect(start).toEqual({
      run: true,
      variables: { ver: '1.3' },
      dependencies: {
        compile: {
          result: 'succeeded',
          outputs: { 'linux.setver.version': '1.2', 'mac.setver.version': '1.3' },
        },
      },
      stageDependencies: {},
    });
    const failedLeg = [build[0] as FinishedJob, { ...(build[1] as FinishedJob), result: 'failed' as const }];
    expect(prepareJobStart(find(plan, 'build.report'), { finished: failedLeg, variables: {} })).toMatchObject(
      {
        run: true,
        dependencies: { compile: { result: 'failed' } },
      },
    );
  });

  it('evaluates a stage condition with the stages it depends on, then runtime variables from stageDependencies', () => {
    const start = prepareJobStart(find(plan, 'deploy.web'), { finished: build, variables: {} });
    // build.lint failed, so the stage failed and succeeded() is false.
    expect(start).toEqual({
      run: false,
      result: 'skipped',
      reason:
        "stage 'deploy' condition 'and(succeeded(), eq(dependencies.build.outputs['compile.linux.setver.version'], '1.2'))' was false",
    });
    const lintOk = [...build.slice(0, 2), done('build.lint', 'succeeded'), done('build.report', 'skipped')];
    expect(prepareJobStart(find(plan, 'deploy.web'), { finished: lintOk, variables: {} })).toMatchObject({
      run: true,
      variables: { fromBuild: '1.2', upper: '1.2' },
      dependencies: {},
    });
  });

  it('names a deployment job’s outputs by the job too, as runOnce does', () => {
    const finished = [
      ...build.slice(0, 2),
      done('build.lint', 'succeeded'),
      done('deploy.web', 'succeeded', { 'push.url': 'u' }),
    ];
    expect(prepareJobStart(find(plan, 'deploy.after'), { finished, variables: {} })).toMatchObject({
      run: true,
      dependencies: { web: { outputs: { 'push.url': 'u', 'web.push.url': 'u' } } },
    });
  });

  it('lets a stage with always() run after a failed or skipped stage; jobs then run on their own status', () => {
    const finished = [
      ...build,
      done('build.report', 'succeeded'),
      done('deploy.web', 'skipped'),
      done('deploy.after', 'skipped'),
    ];
    expect(prepareJobStart(find(plan, 'cleanup.sweep'), { finished, variables: {} })).toMatchObject({
      run: true,
    });
    // A stage whose jobs were all skipped counts as skipped: succeeded() after it is false.
    const strict = { ...find(plan, 'cleanup.sweep'), stageCondition: 'succeeded()' };
    expect(prepareJobStart(strict, { finished, variables: {} })).toMatchObject({
      run: false,
      result: 'skipped',
    });
  });

  it('fails a job whose condition or runtime variable cannot be evaluated, naming which', () => {
    const job = { ...find(plan, 'build.report'), runtimeVariables: { bad: "gt(1, 'x')" } };
    expect(prepareJobStart(job, { finished: build, variables: {} })).toEqual({
      run: false,
      result: 'failed',
      reason:
        "runtime variable 'bad' failed to evaluate: 'gt' cannot compare a number to that (at character 1)",
    });
    const cond = { ...find(plan, 'build.report'), condition: "succeeded('deploy')" };
    expect(prepareJobStart(cond, { finished: build, variables: {} })).toEqual({
      run: false,
      result: 'failed',
      reason: "condition failed to evaluate: 'deploy' is not a dependency of this job (at character 1)",
    });
  });

  it('works for pipelines without stages as the scheduler did, plus variables[] and canceled()', () => {
    const flat = planOf(
      lines(
        'jobs:',
        '- { job: a, steps: [{ script: x }] }',
        "- { job: b, dependsOn: a, condition: \"and(failed(), eq(variables['mode'], 'x'))\", steps: [{ script: x }] }",
        '- { job: c, dependsOn: a, condition: canceled(), steps: [{ script: x }] }',
      ),
    );
    const a = { plan: flat.jobs[0] as JobPlan, result: 'failed' as const };
    expect(
      prepareJobStart(flat.jobs[1] as JobPlan, { finished: [a], variables: { MODE: 'x' } }),
    ).toMatchObject({ run: true });
    expect(prepareJobStart(flat.jobs[2] as JobPlan, { finished: [a], variables: {} })).toEqual({
      run: false,
      result: 'skipped',
      reason: "condition 'canceled()' was false",
    });
    const canceled = { ...a, result: 'canceled' as const };
    expect(prepareJobStart(flat.jobs[2] as JobPlan, { finished: [canceled], variables: {} })).toMatchObject({
      run: true,
    });
  });

  it('lets conditions and runtime variables see values that use other variables, expanded', () => {
    const flat = planOf(
      lines(
        'variables: { G: main, BRANCH: refs/heads/$(G) }',
        'jobs:',
        '- job: a',
        "  condition: eq(variables['BRANCH'], 'refs/heads/main')",
        "  variables: { shown: '$[ variables.BRANCH ]' }",
        '  steps: [{ script: x }]',
      ),
    );
    expect(
      prepareJobStart(flat.jobs[0] as JobPlan, { finished: [], variables: flat.jobs[0]!.variables }),
    ).toMatchObject({ run: true, variables: { shown: 'refs/heads/main' } });
  });
});
