// biome-ignore-all lint/suspicious/noTemplateCurlyInString: pipeline YAML writes ${{ }} expressions in plain strings
import { describe, expect, it } from 'vitest';
import { collectTemplateFiles } from './parse-pipeline.js';
import { errorsOf, filesOf, lines, planOf, scriptsOf } from './test-support.js';

const BUILD_STEPS = lines(
  'parameters:',
  '- name: tool',
  '  type: string',
  '  default: make',
  '  values: [make, ninja]',
  '- name: extra',
  '  type: stepList',
  '  default: []',
  'steps:',
  '- script: ${{ parameters.tool }} all',
  '- ${{ parameters.extra }}',
  "- ${{ if eq(parameters.tool, 'make') }}:",
  '  - script: make test',
  '- ${{ else }}:',
  '  - script: ${{ parameters.tool }} test',
);

describe('templates', () => {
  it('includes steps templates with typed parameters, defaults and inserted step lists', () => {
    const plan = planOf(
      lines(
        'steps:',
        '- template: templates/build.yml',
        '- template: templates/build.yml',
        '  parameters:',
        '    tool: ninja',
        '    extra:',
        '    - script: echo extra',
      ),
      { 'templates/build.yml': BUILD_STEPS },
    );
    expect(scriptsOf(plan)).toEqual({
      job: ['make all', 'make test', 'ninja all', 'echo extra', 'ninja test'],
    });
    // Errors and the UI point at where a step was written: in the template, or by its caller.
    expect(plan.jobs[0]?.steps.map((s) => s.pos)).toEqual([
      { line: 10, col: 3, file: 'templates/build.yml' },
      { line: 13, col: 5, file: 'templates/build.yml' },
      { line: 10, col: 3, file: 'templates/build.yml' },
      { line: 7, col: 7 },
      { line: 15, col: 5, file: 'templates/build.yml' },
    ]);
  });

  it('includes jobs, stages and variables templates, each loops and nested includes', () => {
    const files = {
      'ci/stages.yml': lines(
        'parameters:',
        '- { name: envs, type: object, default: [dev, prod] }',
        'stages:',
        '- ${{ each env in parameters.envs }}:',
        '  - stage: deploy_${{ env }}',
        '    variables:',
        '    - template: vars/${{ env }}.yml',
        '    jobs:',
        '    - template: jobs.yml',
        '      parameters: { env: "${{ env }}" }',
      ),
      'ci/jobs.yml': lines(
        'parameters: { env: none }',
        'jobs:',
        '- job: deploy',
        '  steps:',
        '  - script: deploy ${{ parameters.env }} to $(region)',
      ),
      'ci/vars/dev.yml': lines('variables:', '  region: eu-dev'),
      'ci/vars/prod.yml': lines('variables:', '- name: region', '  value: eu-prod', '  readonly: true'),
    };
    const plan = planOf(lines('stages:', '- template: ci/stages.yml'), files);
    expect(plan.jobs.map((j) => [j.name, j.steps[0]?.script, j.variables.region, j.dependsOn])).toEqual([
      ['deploy_dev.deploy', 'deploy dev to $(region)', 'eu-dev', []],
      ['deploy_prod.deploy', 'deploy prod to $(region)', 'eu-prod', ['deploy_dev.deploy']],
    ]);
    expect(plan.jobs[1]?.readonlyVariables).toEqual(['region']);
  });

  it('passes a whole parameters object on and reads object parameters by property and index', () => {
    const plan = planOf(
      lines('steps:', '- template: a.yml', '  parameters:', '    config: { name: app, ports: [80, 443] }'),
      {
        'a.yml': lines(
          'parameters:',
          '- { name: config, type: object }',
          'steps:',
          '- template: b.yml',
          '  parameters: ${{ parameters }}',
        ),
        'b.yml': lines(
          'parameters: [{ name: config, type: object }]',
          'steps:',
          "- script: ${{ parameters.config.name }} ${{ parameters.config['ports'][1] }} ${{ length(parameters.config.ports) }}",
        ),
      },
    );
    expect(scriptsOf(plan).job).toEqual(['app 443 2']);
  });

  it('extends a template, keeping the pipeline’s triggers and variables beside its body', () => {
    const plan = planOf(
      lines(
        'trigger: [main]',
        'variables: { who: pipeline }',
        'extends:',
        '  template: base.yml',
        '  parameters:',
        '    stepsBefore:',
        '    - script: echo before',
      ),
      {
        'base.yml': lines(
          'parameters:',
          '- { name: stepsBefore, type: stepList, default: [] }',
          'variables: { who: template, only: t }',
          'extends:',
          '  template: root.yml',
          '  parameters: { steps: "${{ parameters.stepsBefore }}" }',
        ),
        'root.yml': lines(
          'parameters: [{ name: steps, type: stepList }]',
          'jobs:',
          '- job: main',
          '  steps:',
          '  - ${{ parameters.steps }}',
          '  - script: echo $(who) $(only)',
        ),
      },
    );
    expect(plan.triggers).toEqual({ trigger: ['main'] });
    expect(plan.variables).toEqual({ who: 'pipeline', only: 't' });
    expect(scriptsOf(plan)).toEqual({ main: ['echo before', 'echo $(who) $(only)'] });
  });

  it('resolves paths from the including file; a leading / from the root', () => {
    const read: string[] = [];
    const files: Record<string, string> = {
      'ci/a/one.yml': lines('steps:', '- template: ../b/two.yml'),
      'ci/b/two.yml': lines('steps:', '- template: /shared/three.yml'),
      'shared/three.yml': lines('steps:', '- script: three'),
    };
    const readFile = (path: string) => {
      read.push(path);
      return filesOf(files)(path);
    };
    const text = lines('steps:', '- template: a/one.yml');
    expect(collectTemplateFiles(text, 'ci/azure-pipelines.yml', readFile)).toEqual(files);
    expect(read).toEqual(['ci/a/one.yml', 'ci/b/two.yml', 'shared/three.yml']);
  });

  it('collects only the templates a run would include', () => {
    const text = lines(
      'parameters: [{ name: full, type: boolean, default: false }]',
      'steps:',
      '- ${{ if parameters.full }}:',
      '  - template: full.yml',
      '- template: quick.yml',
    );
    const files = { 'full.yml': 'steps: [{ script: full }]', 'quick.yml': 'steps: [{ script: quick }]' };
    expect(Object.keys(collectTemplateFiles(text, 'p.yml', filesOf(files)))).toEqual(['quick.yml']);
    const full = collectTemplateFiles(text, 'p.yml', filesOf(files), { parameters: { full: 'true' } });
    expect(Object.keys(full)).toEqual(['full.yml', 'quick.yml']);
  });
});

describe('template expressions', () => {
  it('reads pipeline parameters from options, converting each to its type', () => {
    const text = lines(
      'parameters:',
      '- { name: count, type: number, default: 1 }',
      '- { name: fast, type: boolean, default: false }',
      '- { name: os, type: object, default: [linux] }',
      '- { name: label, default: none, values: [none, nightly] }',
      'steps:',
      "- script: echo ${{ parameters.count }} ${{ parameters.fast }} ${{ join('+', parameters.os) }} ${{ parameters.label }}",
      '- ${{ if gt(parameters.count, 2) }}:',
      '  - script: many',
    );
    expect(scriptsOf(planOf(text)).job).toEqual(['echo 1 False linux none']);
    const plan = planOf(
      text,
      {},
      { parameters: { count: '3', fast: 'True', os: '["linux","mac"]', label: 'nightly' } },
    );
    expect(scriptsOf(plan).job).toEqual(['echo 3 True linux+mac nightly', 'many']);
    expect(plan.parameters).toEqual({ count: 3, fast: true, os: ['linux', 'mac'], label: 'nightly' });
  });

  it('sees variables defined beside the expression and queue-time variables over them', () => {
    const text = lines(
      'variables: { env: dev, region: eu }',
      'stages:',
      '- stage: s',
      '  variables: [{ name: region, value: us }]',
      '  jobs:',
      '  - job: j',
      '    variables: { tier: "${{ variables.env }}-1" }',
      '    steps:',
      '    - script: ${{ variables.env }} ${{ variables.region }} ${{ variables.tier }} ${{ variables.Missing }}.',
    );
    expect(scriptsOf(planOf(text))).toEqual({ 's.j': ['dev us dev-1 .'] });
    expect(scriptsOf(planOf(text, {}, { variables: { ENV: 'prod' } }))).toEqual({
      's.j': ['prod us prod-1 .'],
    });
  });

  it('inserts keys with if, elseif, else, each and insert, and interpolates keys', () => {
    const text = lines(
      'parameters:',
      '- { name: os, default: mac }',
      '- { name: env, type: object, default: { A: 1, B: two } }',
      'pool:',
      "  ${{ if eq(parameters.os, 'linux') }}:",
      '    name: linux',
      "  ${{ elseif eq(parameters.os, 'mac') }}:",
      '    name: mac',
      '  ${{ else }}:',
      '    name: other',
      'steps:',
      '- script: env',
      '  env:',
      '    ${{ each pair in parameters.env }}:',
      '      X_${{ pair.key }}: ${{ pair.value }}',
      '    ${{ insert }}: { FIXED: yes }',
      '- ${{ if false }}:',
      '    script: never',
      '- ${{ if true }}:',
      '    script: always',
      "    displayName: ${{ format('{0}-{1}', upper(parameters.os), lower('X')) }}",
    );
    const job = planOf(text).jobs[0];
    expect(job?.pool.name).toBe('mac');
    expect(job?.steps.map((s) => [s.script, s.env, s.displayName])).toEqual([
      ['env', { X_A: '1', X_B: 'two', FIXED: 'yes' }, 'Run: env'],
      ['always', {}, 'MAC-x'],
    ]);
  });

  it('evaluates the functions templates use', () => {
    const cases: Array<[string, string]> = [
      ["replace('a-b-c', '-', '+')", 'a+b+c'],
      ["join(',', split('a b c', ' '))", 'a,b,c'],
      ["length('héllo')", '5'],
      ["containsValue(split('a,b', ','), 'B')", 'True'],
      ["iif(eq(1, 2), 'yes', 'no')", 'no'],
      ['xor(true, false)', 'True'],
      ["trim('  x  ')", 'x'],
      ["coalesce(parameters.none, '', 'fallback')", 'fallback'],
      ["in('b', 'a', 'b')", 'True'],
    ];
    const text = lines('steps:', ...cases.map(([expr]) => `- script: "\${{ ${expr} }}"`));
    expect(scriptsOf(planOf(text)).job).toEqual(cases.map(([, result]) => result));
    const json = planOf(
      lines(
        'parameters: [{ name: o, type: object, default: { a: [1] } }]',
        'steps:',
        '- script: ${{ convertToJson(parameters.o) }}',
      ),
    );
    expect(json.jobs[0]?.steps[0]?.script).toBe('{\n  "a": [\n    "1"\n  ]\n}');
  });
});

describe('template and expression errors', () => {
  const step = (...text: string[]) => lines('steps:', ...text);
  const cases: Array<[string, string, Record<string, string>, string[]]> = [
    [
      'a missing template, a template from another repository, no template at all',
      lines(
        'resources:',
        '  repositories:',
        '  - { repository: tools, type: github, name: contoso/tools }',
        'steps:',
        '- template: nope.yml',
        '- template: build.yml@tools',
        '- template: x.yml@other',
        '- template: ok.yml@self',
        '- template: ""',
      ),
      { 'ok.yml': 'steps: [{ script: ok }]' },
      [
        "p.yml:5:13: template 'nope.yml' not found",
        "p.yml:6:13: template 'build.yml@tools' is in repository 'contoso/tools' (alias 'tools'): templates from other repositories are not supported yet by Slipway; copy the template beside the pipeline",
        "p.yml:7:13: template 'x.yml@other' is in repository 'other': templates from other repositories are not supported yet by Slipway; copy the template beside the pipeline",
        "p.yml:9:13: 'template' must be a file path, found ''",
      ],
    ],
    [
      'parameters: unknown, missing, of the wrong type, not among the values',
      step(
        '- template: t.yml',
        '  parameters: { count: many, flag: maybe, list: { a: 1 }, pick: c, nope: 1 }',
        '- template: t.yml',
      ),
      {
        't.yml': lines(
          'parameters:',
          '- { name: count, type: number }',
          '- { name: flag, type: boolean, default: false }',
          '- { name: list, type: stepList, default: [] }',
          '- { name: pick, default: a, values: [a, b] }',
          'steps: [{ script: x }]',
        ),
      },
      [
        "p.yml:3:17: parameter 'count' must be a number, found 'many'",
        "p.yml:3:30: parameter 'flag' must be true or false, found 'maybe'",
        "p.yml:3:43: parameter 'list' must be a stepList (a list), found a mapping",
        "p.yml:3:59: parameter 'pick' must be one of a, b, found 'c'",
        "p.yml:3:68: template 't.yml' has no parameter 'nope'",
        "p.yml:4:13: template 't.yml' needs parameter 'count' (it has no default)",
      ],
    ],
    [
      'errors inside a template name its file, line and column',
      step('- template: t.yml'),
      {
        't.yml': lines(
          'parameters: [{ name: a, type: strin }]',
          'steps:',
          "- script: ${{ eq(parameters.a 'x') }}",
          '- bash: ok',
          '  timeoutInMinutes: soon',
          'extra: 1',
        ),
      },
      [
        "t.yml:1:31: unknown parameter type 'strin' (one of string, number, boolean, object, step, stepList, job, jobList, deployment, deploymentList, stage, stageList, container, containerList, filePath, pool, environment, secureFile, serviceConnection)",
        "t.yml:3:31: invalid template expression: expected ',' or ')', found a quote",
        "t.yml:5:21: 'timeoutInMinutes' must be a number of minutes from 0 to 1000000, found 'soon'",
        "t.yml:6:1: unknown key 'extra' in a steps template (one included under 'steps' holds 'parameters' and 'steps')",
      ],
    ],
    [
      'a YAML error in a template',
      step('- template: t.yml'),
      { 't.yml': lines('steps:', '- script: [x') },
      [
        "t.yml:2:11: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] (the '[' opened here)",
      ],
    ],
    [
      'expressions that do not parse or evaluate, runtime values and unclosed braces',
      step(
        '- script: ${{ parameters.a.b',
        "- script: ${{ gt(1, 'x') }}",
        '- script: ${{ dependencies.a.result }}',
        '- script: ${{ succeeded() }}',
        '- script: ${{ counter(1, 0) }}',
        "- script: a ${{ split('a b', ' ') }}",
        "- ${{ each x in 'abc' }}:",
        '  - script: x',
      ),
      {},
      [
        "p.yml:2:11: invalid template expression: '${{' is not closed by '}}'",
        "p.yml:3:15: template expression failed: 'gt' cannot compare a number to that",
        "p.yml:4:15: invalid template expression: 'dependencies' is only known while the run runs: use it in a condition or a runtime expression ('$[ ]')",
        "p.yml:5:15: template expression failed: 'succeeded()' can only be used in a condition, not in a template expression",
        "p.yml:6:15: invalid template expression: function 'counter' is not supported yet by Slipway",
        'p.yml:7:13: cannot insert an array into text (use convertToJson() for its JSON)',
        "p.yml:8:16: 'each' needs an array or an object, found 'abc'",
      ],
    ],
    [
      'else and elseif without an if, list items mixed with keys, duplicate inserted keys',
      step(
        '- ${{ else }}:',
        '  - script: a',
        '- script: b',
        '  ${{ elseif true }}:',
        '    name: c',
        '  ${{ if true }}:',
        '  - script: d',
        '- script: e',
        '  ${{ if true }}:',
        '    script: f',
        '- ${{ iff true }}:',
        '  - script: g',
      ),
      {},
      [
        "p.yml:2:3: '${{ else }}' must follow '${{ if }}' or '${{ elseif }}'",
        'p.yml:4:3: a mapping cannot mix keys with a conditional or loop that inserts list items',
        "p.yml:5:3: '${{ elseif }}' must follow '${{ if }}' or '${{ elseif }}'",
        "p.yml:11:5: duplicate key 'script'",
        "p.yml:12:7: invalid template expression: unrecognized value 'iff'",
      ],
    ],
    [
      'extends: keys set twice, a missing template, wrong keys in the template',
      lines('pool: a', 'extends:', '  template: base.yml'),
      { 'base.yml': lines('pool: b', 'steps: [{ script: x }]', 'nonsense: 1') },
      [
        "base.yml:1:1: 'pool' is set both by the pipeline and by the template it extends",
        "base.yml:3:1: unknown key 'nonsense' in a template a pipeline extends",
        "base.yml:3:1: unknown key 'nonsense' in pipeline",
      ],
    ],
    [
      'extends without a template',
      lines('extends: base.yml'),
      {},
      ["p.yml:1:10: 'extends' needs 'template: <file>' (and optionally 'parameters')"],
    ],
    [
      'pipeline parameters without a default',
      lines('parameters: [{ name: env }]', 'steps: [{ script: x }]'),
      {},
      ["p.yml:1:22: parameter 'env' has no default: give it a value"],
    ],
  ];

  it.each(cases)('%s', (_name, text, files, expected) => {
    expect(errorsOf(text, files)).toEqual(expected);
  });

  it('says when the compiler was given no way to read templates', () => {
    expect(errorsOf(lines('steps:', '- template: t.yml'), {}, { readFile: undefined })).toEqual([
      "p.yml:2:13: cannot read template 't.yml': no template files were given to the compiler",
    ]);
  });
});

describe('template bombs end in an error, quickly', () => {
  const timed = (run: () => string[]): string[] => {
    const started = performance.now();
    const found = run();
    expect(performance.now() - started).toBeLessThan(6000);
    return found;
  };

  it('refuses a template that includes itself', () => {
    const found = timed(() =>
      errorsOf(lines('steps:', '- template: t.yml'), { 't.yml': lines('steps:', '- template: t.yml') }),
    );
    expect(found).toEqual([
      "t.yml:2:13: templates nest more than 50 levels deep (does 't.yml' include itself?)",
    ]);
  });

  it('refuses a template that includes itself twice (exponential)', () => {
    const files = { 't.yml': lines('steps:', '- template: t.yml', '- template: t.yml', '- script: x') };
    const found = timed(() => errorsOf(lines('steps:', '- template: t.yml'), files));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^t\.yml:\d+:13: (templates nest more than 50|the pipeline expands too far)/);
  });

  it('refuses templates that fan out (each includes the next ten times)', () => {
    const files: Record<string, string> = { 't6.yml': lines('steps:', '- script: x') };
    for (let level = 0; level < 6; level++) {
      files[`t${level}.yml`] = lines('steps:', ...Array(10).fill(`- template: t${level + 1}.yml`));
    }
    const found = timed(() => errorsOf(lines('steps:', '- template: t0.yml'), files));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^t\d\.yml:\d+:13: the pipeline expands too far \(more than 500000 nodes/);
  });

  it('refuses loops that multiply', () => {
    const text = lines(
      'parameters: [{ name: n, type: object, default: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20] }]',
      'steps:',
      '- ${{ each a in parameters.n }}:',
      '  - ${{ each b in parameters.n }}:',
      '    - ${{ each c in parameters.n }}:',
      '      - ${{ each d in parameters.n }}:',
      '        - ${{ each e in parameters.n }}:',
      '          - ${{ if false }}:',
      '            - script: x',
    );
    const found = timed(() => errorsOf(text));
    expect(found).toEqual([
      'p.yml:8:19: the pipeline expands too far (more than 500000 nodes once templates, loops and parameters are expanded): refusing a possible template bomb',
    ]);
  });

  it('refuses text that doubles at each level', () => {
    const files = {
      't.yml': lines(
        'parameters: [{ name: s, default: x }]',
        'steps:',
        '- ${{ if lt(length(parameters.s), 100000000) }}:',
        '  - template: t.yml',
        '    parameters: { s: "${{ format(\'{0}{0}\', parameters.s) }}" }',
        '- ${{ else }}:',
        '  - script: ${{ parameters.s }}',
      ),
    };
    const found = timed(() => errorsOf(lines('steps:', '- template: t.yml'), files));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(
      /'format' would build text longer than 1048576 characters|create more than 32 MiB/,
    );
  });
});
