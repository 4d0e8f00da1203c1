import { describe, expect, it } from 'vitest';
import { errorsOf, lines, planOf } from './test-support.js';

describe('pipeline-level keys real files carry', () => {
  it('stores triggers as written, the build number format, lockBehavior and appendCommitMessageToRunName', () => {
    const plan = planOf(
      lines(
        'name: $(Date:yyyyMMdd)$(Rev:.r)',
        'trigger:',
        '  branches: { include: [main, releases/*] }',
        '  paths: { exclude: [docs] }',
        'pr: none',
        'schedules:',
        "- cron: '0 3 * * *'",
        '  branches: { include: [main] }',
        '  always: true',
        'lockBehavior: runLatest',
        'appendCommitMessageToRunName: false',
        'steps: [{ script: x }]',
      ),
    );
    expect(plan.name).toBe('$(Date:yyyyMMdd)$(Rev:.r)');
    expect(plan.triggers).toEqual({
      trigger: { branches: { include: ['main', 'releases/*'] }, paths: { exclude: ['docs'] } },
      pr: 'none',
      schedules: [{ cron: '0 3 * * *', branches: { include: ['main'] }, always: 'true' }],
    });
    expect(plan.lockBehavior).toBe('runLatest');
    expect(plan.appendCommitMessageToRunName).toBe(false);
  });

  it('records repositories and resolves container aliases in container: and services:', () => {
    const plan = planOf(
      lines(
        'resources:',
        '  repositories:',
        '  - repository: tools',
        '    type: github',
        '    name: contoso/tools',
        '    ref: refs/heads/main',
        '    endpoint: gh',
        '  containers:',
        '  - container: build',
        '    image: contoso/build:1',
        '    env: { MODE: ci }',
        '    ports: [8080]',
        '  - { container: redis, image: "redis:7" }',
        'container: build',
        'services: { cache: redis, db: "postgres:16" }',
        'steps: [{ script: x }]',
      ),
    );
    expect(plan.resources).toEqual({
      repositories: [
        {
          repository: 'tools',
          type: 'github',
          name: 'contoso/tools',
          ref: 'refs/heads/main',
          endpoint: 'gh',
        },
      ],
      containers: {
        build: { image: 'contoso/build:1', env: { MODE: 'ci' }, ports: ['8080'] },
        redis: { image: 'redis:7', env: {}, ports: [] },
      },
    });
    expect(plan.jobs[0]?.container).toEqual({
      image: 'contoso/build:1',
      env: { MODE: 'ci' },
      ports: ['8080'],
    });
    expect(plan.jobs[0]?.services).toEqual({
      cache: { image: 'redis:7', env: {}, ports: [] },
      db: { image: 'postgres:16', env: {}, ports: [] },
    });
  });

  it('accepts the old resources list that names only this repository', () => {
    const plan = planOf(lines('resources:', '- repo: self', '  clean: true', 'steps: [{ script: x }]'));
    expect(plan.resources).toEqual({ repositories: [], containers: {} });
  });

  it('keeps runtime variables as expressions, in order, out of the static variables', () => {
    const plan = planOf(
      lines(
        'variables:',
        '  static: a',
        "  when: $[ format('{0}-x', variables.static) ]",
        '  over: $[ 1 ]',
        'jobs:',
        '- job: a',
        '  variables:',
        '  - { name: over, value: plain }',
        '  - { name: fromB, value: "$[ dependencies.b.outputs[\'set.v\'] ]" }',
        '  steps: [{ script: x }]',
        '  dependsOn: b',
        '- { job: b, steps: [{ script: x }] }',
      ),
    );
    expect(plan.variables).toEqual({ static: 'a' });
    expect(plan.jobs[0]?.variables).toEqual({ static: 'a', over: 'plain' });
    expect(plan.jobs[0]?.runtimeVariables).toEqual({
      when: "format('{0}-x', variables.static)",
      fromB: "dependencies.b.outputs['set.v']",
    });
    expect(plan.jobs[1]?.runtimeVariables).toEqual({ when: "format('{0}-x', variables.static)", over: '1' });
  });

  const errors: Array<[string, string, string[]]> = [
    [
      'resources written wrong or refused',
      lines(
        'resources:',
        '  pipelines: [{ pipeline: up, source: up }]',
        '  repositories:',
        '  - { type: git, name: x }',
        '  - { repository: r }',
        '  containers:',
        '  - { image: x }',
        '  - { container: "bad alias", image: x }',
        '  - { container: c, image: x, options: --privileged }',
        'steps: [{ script: x }]',
      ),
      [
        "p.yml:2:3: 'pipelines' is not supported yet by Slipway",
        "p.yml:4:5: a repository resource needs 'repository: <alias>'",
        "p.yml:7:5: a container resource needs 'container: <alias>'",
        "p.yml:8:18: invalid container alias 'bad alias': use letters, digits, '_' and '-'",
        "p.yml:9:40: options: option '--privileged' is not allowed: it gives the container every right on the host",
      ],
    ],
    [
      'runtime expressions that do not parse, and counter()',
      lines(
        'variables:',
        '  a: $[ eq(1 ]',
        '  b: $[ counter(variables.x, 0) ]',
        '  c: prefix $[ 1 ]',
        'lockBehavior: maybe',
        'steps: [{ script: x }]',
      ),
      [
        "p.yml:2:14: invalid runtime expression: expected ',' or ')', found end of expression",
        "p.yml:3:9: invalid runtime expression: function 'counter' is not supported yet by Slipway",
        "p.yml:5:15: 'lockBehavior' must be one of sequential, runLatest, found 'maybe'",
      ],
    ],
  ];

  it.each(errors)('%s', (_name, text, expected) => {
    expect(errorsOf(text)).toEqual(expected);
  });
});
