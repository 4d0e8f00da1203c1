import { describe, expect, it } from 'vitest';
import { errorsOf, lines, planOf, scriptsOf } from './test-support.js';

/** Pipelines Azure Pipelines runs as they are, which Slipway once refused. */
describe('real pipelines Azure accepts', () => {
  it('names jobs written without a name as Azure does: Job, then Job1, Job2, skipping names taken', () => {
    const plan = planOf(
      lines(
        'jobs:',
        '- job:',
        '  steps: [{ script: a }]',
        "- job: ''",
        '  steps: [{ script: b }]',
        '- job: Job1',
        '  steps: [{ script: c }]',
        '- job:',
        '  displayName: Fourth',
        '  steps: [{ script: d }]',
      ),
    );
    expect(plan.jobs.map((j) => [j.name, j.displayName])).toEqual([
      ['Job', 'Job'],
      ['Job2', 'Job2'],
      ['Job1', 'Job1'],
      ['Job3', 'Fourth'],
    ]);
  });

  it("reads '' for dependsOn and condition as absent", () => {
    const plan = planOf(
      lines(
        'stages:',
        '- stage: one',
        '  jobs: [{ job: a, steps: [{ script: a }] }]',
        '- stage: two',
        "  dependsOn: ''",
        "  condition: ''",
        '  jobs:',
        '  - job: b',
        "    dependsOn: ''",
        "    condition: ''",
        '    steps:',
        '    - script: b',
        "      condition: ''",
      ),
    );
    const b = plan.jobs[1]!;
    expect(b.dependsOn).toEqual(['one.a']); // the stage's dependency, none of its own
    expect(b.condition).toBe('succeeded()');
    expect(b.stageCondition).toBe('succeeded()');
    expect(b.stageDependsOn).toEqual(['one']);
    expect(b.steps[0]!.condition).toBe('succeeded()');
  });

  it('takes a strategy with only maxParallel as one job', () => {
    const plan = planOf(
      lines('jobs:', '- job: a', '  strategy: { maxParallel: 2 }', '  steps: [{ script: x }]'),
    );
    expect(plan.jobs.map((j) => j.name)).toEqual(['a']);
  });

  it('takes a repository resource without a name', () => {
    const plan = planOf(
      lines('resources:', '  repositories:', '  - repository: self', 'steps: [{ script: x }]'),
    );
    expect(plan.resources?.repositories).toEqual([{ repository: 'self', type: 'git' }]);
  });

  it('keeps a macro in checkout options for the agent to resolve', () => {
    const plan = planOf(
      lines('steps:', '- checkout: self', '  fetchDepth: $(fetchDepth)', '  clean: $(clean)', '- script: x'),
    );
    expect(plan.jobs[0]!.steps[0]!.checkout).toEqual({ fetchDepth: '$(fetchDepth)', clean: '$(clean)' });
    expect(errorsOf(lines('steps:', '- checkout: self', '  fetchDepth: deep'))).toEqual([
      "p.yml:3:15: 'fetchDepth' must be a whole number from 0 to 1000000, found 'deep'",
    ]);
  });

  it('resolves a container image written as a runtime expression: the plan names the image', () => {
    const plan = planOf(
      lines(
        'variables: { img: alpine:3.20, tools: toolbox }',
        'resources:',
        '  containers:',
        '  - { container: toolbox, image: "registry.example/tools:1", env: { A: b } }',
        'jobs:',
        '- job: a',
        "  container: $[ variables['img'] ]",
        '  steps: [{ script: x }]',
        '- job: b',
        '  container: { image: "$[ variables.img ]" }',
        '  steps: [{ script: x }]',
        '- job: c',
        '  container: $[ variables.tools ]',
        '  steps: [{ script: x }]',
        '- job: d',
        '  variables: { img: busybox }',
        "  container: $[ format('{0}:latest', variables.img) ]",
        '  steps: [{ script: x }]',
      ),
      {},
      { variables: {} },
    );
    expect(plan.jobs.map((j) => j.container)).toEqual([
      { image: 'alpine:3.20', env: {}, ports: [] },
      { image: 'alpine:3.20', env: {}, ports: [] },
      { image: 'registry.example/tools:1', env: { A: 'b' }, ports: [] },
      { image: 'busybox:latest', env: {}, ports: [] },
    ]);
    const queued = planOf(
      lines('jobs:', '- job: a', '  container: $[ variables.img ]', '  steps: [{ script: x }]'),
      {},
      {
        variables: { img: 'node:20' },
      },
    );
    expect(queued.jobs[0]!.container?.image).toBe('node:20');
  });

  it('refuses by name an image expression Slipway cannot resolve before the job starts', () => {
    expect(
      errorsOf(
        lines(
          'jobs:',
          '- job: a',
          '  variables: { img: "$[ dependencies.x.outputs[\'s.img\'] ]" }',
          "  container: $[ variables['img'] ]",
          '  steps: [{ script: x }]',
          '- job: b',
          "  container: $[ dependencies.a.outputs['s.img'] ]",
          '  steps: [{ script: x }]',
          '- job: c',
          "  container: $[ variables['nothing'] ]",
          '  steps: [{ script: x }]',
          '- job: d',
          '  container: $[ eq(1 ]',
          '  steps: [{ script: x }]',
        ),
      ),
    ).toEqual([
      "p.yml:4:14: container image '$[ variables['img'] ]' uses the runtime variable 'img': an image from a runtime variable is not supported yet by Slipway",
      "p.yml:7:14: a container image from other jobs' outputs ('dependencies') is not supported yet by Slipway",
      "p.yml:10:14: container image '$[ variables['nothing'] ]' is '' once evaluated: it must be an image name without spaces",
      expect.stringMatching(/^p\.yml:13:14: invalid image expression: /),
    ]);
  });

  it('lets a template without declared parameters, or with the older map form, take any parameter', () => {
    const plan = planOf(
      lines(
        'steps:',
        '- template: none.yml',
        '  parameters: { who: world }',
        '- template: legacy.yml',
        '  parameters: { greeting: hi, extra: more }',
      ),
      {
        'none.yml': lines('steps:', '- script: echo hello ${{ parameters.who }}'),
        'legacy.yml': lines(
          'parameters:',
          '  greeting: hello',
          'steps:',
          '- script: echo ${{ parameters.greeting }} ${{ parameters.extra }}',
        ),
      },
    );
    expect(scriptsOf(plan)).toEqual({ job: ['echo hello world', 'echo hi more'] });
    // The list form declares exactly what it takes, as in Azure.
    expect(
      errorsOf(lines('steps:', '- template: typed.yml', '  parameters: { extra: x }'), {
        'typed.yml': lines('parameters:', '- name: a', '  default: 1', 'steps:', '- script: x'),
      }),
    ).toEqual(["p.yml:3:17: template 'typed.yml' has no parameter 'extra'"]);
  });

  it('names the parameter an empty job name comes from', () => {
    expect(
      errorsOf(lines('jobs:', '- template: t.yml'), {
        't.yml': lines('jobs:', '- job: ${{ parameters.name }}', '  steps: [{ script: x }]'),
      }),
    ).toEqual([
      "t.yml:2:8: 'job' is empty: parameter 'name' has no value (it is neither given nor declared with a default)",
    ]);
    expect(
      errorsOf(lines('jobs:', '- template: t.yml'), {
        't.yml': lines(
          'parameters:',
          '- name: name',
          'jobs:',
          '- job: ${{ parameters.name }}',
          '  steps: [{ script: x }]',
        ),
      }),
    ).toEqual(["p.yml:2:13: template 't.yml' needs parameter 'name' (it has no default)"]);
  });
});

describe('errors that point at the fix', () => {
  it('reports an unclosed quote where it opens, not where the file ends', () => {
    const text = lines(
      'jobs:',
      '- job: a',
      '  steps:',
      '  - script: echo',
      '    displayName: x',
      '    condition: "eq(1',
    );
    expect(errorsOf(text)).toEqual([
      'p.yml:6:16: invalid YAML: Missing closing "quote (the " quote opened here)',
    ]);
  });

  it('suggests the key a typo most likely meant', () => {
    expect(errorsOf(lines('jobs:', '- job: a', '  stpes: [{ script: x }]'))).toContain(
      "p.yml:3:3: unknown key 'stpes' in job (did you mean 'steps'?)",
    );
    expect(errorsOf(lines('jobs:', '- job: a', '  steps: [{ script: x, dispalyName: y }]'))).toEqual([
      "p.yml:3:24: unknown key 'dispalyName' in script step (did you mean 'displayName'?)",
    ]);
    expect(errorsOf(lines('jobs:', '- job: a', '  steps: [{ script: x }]', '  zzz: 1'))).toEqual([
      "p.yml:4:3: unknown key 'zzz' in job",
    ]);
  });
});
