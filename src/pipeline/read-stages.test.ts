import { describe, expect, it } from 'vitest';
import { errorsOf, lines, planOf } from './test-support.js';

const job = (name: string, extra = '') => `  - { job: ${name}, ${extra}steps: [{ script: ${name} }] }`;

describe('stages', () => {
  it('flattens stages into jobs named <stage>.<job>, each waiting for the stages its stage depends on', () => {
    const plan = planOf(
      lines(
        'pool: { name: linux, demands: [docker] }',
        'variables: { where: pipeline, level: 0 }',
        'stages:',
        '- stage: Build',
        '  displayName: Build it',
        '  variables: { level: 1 }',
        '  jobs:',
        job('compile'),
        job('test', 'dependsOn: compile, '),
        '- stage: Lint',
        '  dependsOn: []',
        '  pool: { demands: node }',
        '  jobs:',
        job('compile'),
        '- stage: Deploy',
        '  dependsOn: [build, LINT]',
        "  condition: and(succeeded(), eq(variables['Build.SourceBranch'], 'refs/heads/main'))",
        '  jobs:',
        job('push', 'pool: other, variables: { level: 3 }, '),
        '- stage: Report',
        '  jobs:',
        job('mail'),
      ),
    );
    expect(
      plan.jobs.map((j) => [
        j.name,
        j.shortName,
        j.stage,
        j.dependsOn,
        j.stageDependsOn,
        j.pool,
        j.variables.level,
      ]),
    ).toEqual([
      [
        'Build.compile',
        'compile',
        'Build',
        [],
        [],
        { name: 'linux', demands: [{ name: 'docker', op: 'exists' }] },
        '1',
      ],
      [
        'Build.test',
        'test',
        'Build',
        ['Build.compile'],
        [],
        { name: 'linux', demands: [{ name: 'docker', op: 'exists' }] },
        '1',
      ],
      [
        'Lint.compile',
        'compile',
        'Lint',
        [],
        [],
        { name: 'linux', demands: [{ name: 'node', op: 'exists' }] },
        '0',
      ],
      [
        'Deploy.push',
        'push',
        'Deploy',
        ['Build.compile', 'Build.test', 'Lint.compile'],
        ['Build', 'Lint'],
        { name: 'other', demands: [] },
        '3',
      ],
      [
        'Report.mail',
        'mail',
        'Report',
        ['Deploy.push'],
        ['Deploy'],
        { name: 'linux', demands: [{ name: 'docker', op: 'exists' }] },
        '0',
      ],
    ]);
    expect(plan.jobs[0]).toMatchObject({ stageDisplayName: 'Build it', stageCondition: 'succeeded()' });
    expect(plan.jobs[3]?.stageCondition).toBe(
      "and(succeeded(), eq(variables['Build.SourceBranch'], 'refs/heads/main'))",
    );
    expect(plan.stages).toEqual([
      {
        name: 'Build',
        displayName: 'Build it',
        dependsOn: [],
        condition: 'succeeded()',
        jobs: ['Build.compile', 'Build.test'],
        pos: { line: 4, col: 3 },
      },
      {
        name: 'Lint',
        displayName: 'Lint',
        dependsOn: [],
        condition: 'succeeded()',
        jobs: ['Lint.compile'],
        pos: { line: 10, col: 3 },
      },
      {
        name: 'Deploy',
        displayName: 'Deploy',
        dependsOn: ['Build', 'Lint'],
        condition: "and(succeeded(), eq(variables['Build.SourceBranch'], 'refs/heads/main'))",
        jobs: ['Deploy.push'],
        pos: { line: 15, col: 3 },
      },
      {
        name: 'Report',
        displayName: 'Report',
        dependsOn: ['Deploy'],
        condition: 'succeeded()',
        jobs: ['Report.mail'],
        pos: { line: 20, col: 3 },
      },
    ]);
  });

  it('accepts a single stage dependency written as a string, and stage keys that mean nothing locally', () => {
    const plan = planOf(
      lines(
        'stages:',
        '- { stage: a, jobs: [{ job: j, steps: [{ script: x }] }] }',
        '- stage: b',
        '  dependsOn: a',
        '  trigger: automatic',
        '  isSkippable: false',
        '  lockBehavior: sequential',
        '  jobs: [{ job: j, steps: [{ script: x }] }]',
      ),
    );
    expect(plan.jobs.map((j) => [j.name, j.dependsOn])).toEqual([
      ['a.j', []],
      ['b.j', ['a.j']],
    ]);
  });

  const errors: Array<[string, string, string[]]> = [
    [
      'stage names, dependencies and cycles',
      lines(
        'stages:',
        '- { stage: a, dependsOn: c, jobs: [{ job: j, steps: [{ script: x }] }] }',
        '- { stage: A, jobs: [{ job: j, steps: [{ script: x }] }] }',
        '- { stage: b, dependsOn: [a, nope], jobs: [{ job: j, steps: [{ script: x }] }] }',
        '- { stage: c, dependsOn: b, jobs: [{ job: j, steps: [{ script: x }] }] }',
        '- { stage: 2nd, jobs: [{ job: j, steps: [{ script: x }] }] }',
        '- { jobs: [{ job: j, steps: [{ script: x }] }] }',
        '- { stage: e }',
      ),
      [
        'p.yml:2:26: dependency cycle: a -> c -> b -> a',
        "p.yml:3:12: duplicate stage name 'A' (stage 'a' is at 2:12)",
        "p.yml:4:30: stage 'b' depends on unknown stage 'nope'",
        "p.yml:6:12: invalid stage name '2nd': use letters, digits and '_', not starting with a digit",
        "p.yml:7:3: a stage needs a name: 'stage: <name>'",
        "p.yml:8:3: stage 'e' needs 'jobs'",
      ],
    ],
    [
      'job names are unique per stage, and dependencies stay inside it',
      lines(
        'stages:',
        '- stage: a',
        '  jobs:',
        job('build'),
        job('Build'),
        '- stage: b',
        '  jobs:',
        job('build'),
        job('test', 'dependsOn: a, '),
      ),
      [
        "p.yml:5:12: duplicate job name 'Build' (job 'build' is at 4:12)",
        "p.yml:9:29: job 'test' depends on unknown job 'a'",
      ],
    ],
    [
      'refused stage features and mixing stages with jobs',
      lines(
        'stages:',
        '- stage: a',
        '  trigger: manual',
        '  jobs: [{ job: j, steps: [{ script: x }] }]',
        '- template: t.yml',
        'jobs: []',
        'container: node',
      ),
      [
        "p.yml:3:12: manual stages ('trigger: manual') are not supported yet by Slipway",
        "p.yml:5:13: template 't.yml' not found",
        "p.yml:6:1: use one of 'stages', 'jobs' or 'steps' at the top level, not 'stages' and 'jobs'",
        "p.yml:7:1: top-level 'container' goes with top-level 'steps'; with 'stages', set it on each job",
      ],
    ],
  ];

  it.each(errors)('%s', (_name, text, expected) => {
    expect(errorsOf(text)).toEqual(expected);
  });
});

describe('deployment jobs', () => {
  it('map runOnce hooks to steps in order, record the environment, and check nothing out by default', () => {
    const plan = planOf(
      lines(
        'jobs:',
        '- deployment: web',
        '  displayName: Deploy web',
        '  environment: staging',
        '  strategy:',
        '    runOnce:',
        '      preDeploy: { steps: [{ script: pre }] }',
        '      deploy:',
        '        steps:',
        '        - download: current',
        '          artifact: drop',
        '        - script: deploy',
        '      routeTraffic: { steps: [{ script: route }] }',
        '      postRouteTraffic: { steps: [{ script: post }] }',
        '- deployment: api',
        '  dependsOn: web',
        '  environment: { name: prod }',
        '  strategy: { runOnce: { deploy: { steps: [{ checkout: self }, { script: deploy }] } } }',
      ),
    );
    const [web, api] = plan.jobs;
    expect(web).toMatchObject({
      name: 'web',
      displayName: 'Deploy web',
      deployment: true,
      environment: 'staging',
      checkout: 'none',
    });
    expect(web?.steps.map((s) => (s.kind === 'script' ? s.script : s.kind))).toEqual([
      'pre',
      'download',
      'deploy',
      'route',
      'post',
    ]);
    expect(api).toMatchObject({ name: 'api', dependsOn: ['web'], deployment: true, environment: 'prod' });
    expect(api?.checkout).toBeUndefined();
  });

  const errors: Array<[string, string, string[]]> = [
    [
      'refused strategies, hooks and environment resources',
      lines(
        'jobs:',
        '- deployment: a',
        '  environment: prod.vm1',
        '  strategy: { rolling: { maxParallel: 2 } }',
        '- deployment: b',
        '  environment: { name: prod, resourceType: VirtualMachine }',
        '  strategy:',
        '    runOnce:',
        '      deploy: { pool: server, steps: [{ script: x }] }',
        '      on: { failure: { steps: [{ script: y }] } }',
        '- deployment: c',
        '  steps: [{ script: x }]',
        '  strategy: { runOnce: { preDeploy: { steps: [{ script: x }] } } }',
        '- job: d',
        '  strategy: { runOnce: { deploy: { steps: [{ script: x }] } } }',
        '  steps: [{ script: x }]',
        '- { job: e, deployment: e }',
      ),
      [
        "p.yml:3:16: environment resources ('prod.vm1') are not supported yet by Slipway: name only the environment",
        "p.yml:4:15: 'rolling' is not supported yet by Slipway",
        "p.yml:6:30: 'resourceType' is not supported yet by Slipway",
        "p.yml:9:17: 'pool' is not supported yet by Slipway",
        "p.yml:10:7: 'on' is not supported yet by Slipway",
        "p.yml:12:3: unknown key 'steps' in deployment job",
        "p.yml:13:24: 'runOnce' needs 'deploy' with 'steps'",
        "p.yml:15:15: 'runOnce' is a deployment strategy: use it in a 'deployment:' job",
        "p.yml:17:5: an item of 'jobs' is either a 'job' or a 'deployment', not both",
      ],
    ],
  ];

  it.each(errors)('%s', (_name, text, expected) => {
    expect(errorsOf(text)).toEqual(expected);
  });
});
