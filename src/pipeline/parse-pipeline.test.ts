import { describe, expect, it } from 'vitest';
import { PipelineErrors } from '../shared/errors.js';
import { parsePipeline, validatePipeline } from './parse-pipeline.js';

const lines = (...text: string[]): string => `${text.join('\n')}\n`;
const messages = (text: string): string[] => validatePipeline(text, 'p.yml').map((e) => e.message);

describe('parsePipeline', () => {
  it('compiles the example from DESIGN.md', () => {
    const plan = parsePipeline(
      lines(
        'pool: { name: default, demands: [docker, node -equals 20] }',
        'variables: { GREETING: hello }',
        'jobs:',
        '- job: build',
        '  container: slipway/base:latest',
        '  services: { cache: redis-image }',
        '  docker: dind',
        '  timeoutInMinutes: 10',
        '  steps:',
        '  - script: echo $(GREETING)',
        '    displayName: Greet',
        '  - bash: ./test.sh',
        '    env: { TOKEN: $(mySecret) }',
        '    continueOnError: true',
        '- job: test',
        '  dependsOn: build',
        '  condition: succeeded()',
        '  steps: [{ script: npm test }]',
      ),
      'azure-pipelines.yml',
    );
    const pool = {
      name: 'default',
      demands: [
        { name: 'docker', op: 'exists' },
        { name: 'node', op: 'equals', value: '20' },
      ],
    };
    expect(plan).toEqual({
      file: 'azure-pipelines.yml',
      variables: { GREETING: 'hello' },
      jobs: [
        {
          name: 'build',
          displayName: 'build',
          dependsOn: [],
          condition: 'succeeded()',
          pool,
          variables: { GREETING: 'hello' },
          timeoutInMinutes: 10,
          cancelTimeoutInMinutes: 1,
          continueOnError: false,
          container: { image: 'slipway/base:latest', env: {}, ports: [] },
          services: { cache: { image: 'redis-image', env: {}, ports: [] } },
          docker: 'dind',
          steps: [
            {
              kind: 'script',
              script: 'echo $(GREETING)',
              displayName: 'Greet',
              env: {},
              continueOnError: false,
              timeoutInMinutes: 0,
              condition: 'succeeded()',
              pos: { line: 10, col: 5 },
            },
            {
              kind: 'bash',
              script: './test.sh',
              displayName: 'Run: ./test.sh',
              env: { TOKEN: '$(mySecret)' },
              continueOnError: true,
              timeoutInMinutes: 0,
              condition: 'succeeded()',
              pos: { line: 12, col: 5 },
            },
          ],
          pos: { line: 4, col: 3 },
        },
        {
          name: 'test',
          displayName: 'test',
          dependsOn: ['build'],
          condition: 'succeeded()',
          pool,
          variables: { GREETING: 'hello' },
          timeoutInMinutes: 60,
          cancelTimeoutInMinutes: 1,
          continueOnError: false,
          services: {},
          docker: 'none',
          steps: [
            expect.objectContaining({ kind: 'script', script: 'npm test', displayName: 'Run: npm test' }),
          ],
          pos: { line: 15, col: 3 },
        },
      ],
    });
  });

  it('turns a top-level steps: into one job named job, with the job keys allowed beside it', () => {
    const plan = parsePipeline(
      lines(
        'name: $(Date:yyyyMMdd)',
        'pool: linux',
        'container: { image: node:20, env: { CI: 1 }, ports: ["8080:80", 5432] }',
        'docker: socket',
        'timeoutInMinutes: 0',
        'steps:',
        '- script: echo',
      ),
      'p.yml',
    );
    expect(plan.name).toBe('$(Date:yyyyMMdd)');
    expect(plan.jobs).toHaveLength(1);
    expect(plan.jobs[0]).toMatchObject({
      name: 'job',
      pool: { name: 'linux', demands: [] },
      container: { image: 'node:20', env: { CI: '1' }, ports: ['8080:80', '5432'] },
      docker: 'socket',
      timeoutInMinutes: 0,
      pos: { line: 6, col: 1 },
    });
  });

  it('overlays job variables on pipeline variables case-insensitively, keeping readonly names', () => {
    const plan = parsePipeline(
      lines(
        'variables: { Config: debug, count: 3, flag: true, ratio: 1.10, empty: }',
        'jobs:',
        '- job: a',
        '  variables:',
        '  - name: config',
        '    value: release',
        '  - name: locked',
        '    value: x',
        '    readonly: true',
        '  steps: [{ script: x }]',
      ),
      'p.yml',
    );
    expect(plan.variables).toEqual({ Config: 'debug', count: '3', flag: 'true', ratio: '1.10', empty: '' });
    expect(plan.jobs[0]?.variables).toEqual({
      count: '3',
      flag: 'true',
      ratio: '1.10',
      empty: '',
      config: 'release',
      locked: 'x',
    });
    expect(plan.jobs[0]?.readonlyVariables).toEqual(['locked']);
  });

  it('lets a job override the pool, keeping the pipeline pool when the job names only demands', () => {
    const plan = parsePipeline(
      lines(
        'pool: { name: linux, demands: docker }',
        'jobs:',
        '- { job: a, steps: [{ script: x }] }',
        '- { job: b, pool: { demands: [gpu] }, steps: [{ script: x }] }',
        '- { job: c, pool: other, steps: [{ script: x }] }',
      ),
      'p.yml',
    );
    expect(plan.jobs.map((j) => j.pool)).toEqual([
      { name: 'linux', demands: [{ name: 'docker', op: 'exists' }] },
      { name: 'linux', demands: [{ name: 'gpu', op: 'exists' }] },
      { name: 'other', demands: [] },
    ]);
  });

  it('reads step fields, drops disabled steps and names steps by their first line', () => {
    const plan = parsePipeline(
      lines(
        'steps:',
        '- script: |',
        '',
        '    make all',
        '    make test',
        '  name: build_1',
        '  workingDirectory: src',
        '  timeoutInMinutes: 5',
        '  condition: always()',
        '  enabled: True',
        '- bash: echo off',
        '  enabled: false',
        `- bash: echo ${'x'.repeat(80)}`,
      ),
      'p.yml',
    );
    const [first, second] = plan.jobs[0]?.steps ?? [];
    expect(plan.jobs[0]?.steps).toHaveLength(2);
    expect(first).toMatchObject({
      script: '\nmake all\nmake test\n',
      displayName: 'Run: make all',
      name: 'build_1',
      workingDirectory: 'src',
      timeoutInMinutes: 5,
      condition: 'always()',
    });
    expect(second?.displayName).toHaveLength(60);
    expect(second?.displayName.endsWith('…')).toBe(true);
  });

  it('resolves aliases and orders dependsOn by the depended-on job spelling', () => {
    const plan = parsePipeline(
      lines(
        'jobs:',
        '- job: Build',
        '  steps: &common',
        '  - script: make',
        '- job: test',
        '  dependsOn: [build, BUILD]',
        '  steps: *common',
      ),
      'p.yml',
    );
    expect(plan.jobs[1]?.dependsOn).toEqual(['Build']);
    expect(plan.jobs[1]?.steps[0]?.script).toBe('make');
  });

  it('handles a byte-order mark and CRLF line ends', () => {
    const plan = parsePipeline('\uFEFFsteps:\r\n- script: echo hi\r\n  displayName: Hi\r\n', 'p.yml');
    expect(plan.jobs[0]?.steps[0]).toMatchObject({
      script: 'echo hi',
      displayName: 'Hi',
      pos: { line: 2, col: 3 },
    });
  });

  it('throws PipelineErrors holding every error', () => {
    const run = () => parsePipeline(lines('foo: 1', 'bar: 2', 'steps: [{ script: x }]'), 'p.yml');
    expect(run).toThrow(PipelineErrors);
    expect(run).toThrow("p.yml:1:1: unknown key 'foo' in pipeline\np.yml:2:1: unknown key 'bar' in pipeline");
  });
});

describe('variable groups', () => {
  it('keeps the groups of every level in order, beside the variables, for the coordinator to fill in', () => {
    const plan = parsePipeline(
      lines(
        'variables:',
        '- group: shared',
        '- name: REGION',
        '  value: eu',
        'stages:',
        '- stage: s',
        '  variables: [{ group: Release Secrets }]',
        '  jobs:',
        '  - job: a',
        '    variables: [{ group: shared }, { group: job-only }]',
        '    steps: [{ script: echo }]',
        '  - job: b',
        '    steps: [{ script: echo }]',
      ),
      'p.yml',
    );
    const [a, b] = plan.jobs;
    // Listed again lower down, a group moves to its last place, as later definitions win.
    expect(a!.variableGroups).toEqual(['Release Secrets', 'shared', 'job-only']);
    expect(b!.variableGroups).toEqual(['shared', 'Release Secrets']);
    expect(a!.variables).toEqual({ REGION: 'eu' });
  });
});

describe('validatePipeline', () => {
  const cases: Array<[string, string, string[]]> = [
    ['a valid pipeline', lines('steps:', '- script: x'), []],
    [
      'unknown and misspelled keys',
      lines('foo: 1', 'Steps:', '- script: x', 'trigger: none'),
      [
        "p.yml:1:1: unknown key 'foo' in pipeline",
        "p.yml:1:1: a pipeline needs 'stages', 'jobs' or 'steps'",
        "p.yml:2:1: unknown key 'Steps' in pipeline (did you mean 'steps'?)",
      ],
    ],
    [
      'jobs and steps together',
      lines('steps: [{ script: x }]', 'jobs: [{ job: a, steps: [{ script: y }] }]'),
      ["p.yml:2:1: use one of 'stages', 'jobs' or 'steps' at the top level, not 'steps' and 'jobs'"],
    ],
    [
      'job keys at the top level beside jobs',
      lines('container: node', 'jobs: [{ job: a, steps: [{ script: y }] }]'),
      ["p.yml:1:1: top-level 'container' goes with top-level 'steps'; with 'jobs', set it on each job"],
    ],
    [
      'wrong types name what was expected and what was found',
      lines(
        'jobs:',
        '- job: a',
        '  timeoutInMinutes: soon',
        '  continueOnError: maybe',
        '  displayName: [x]',
        '  docker: yes',
        '  steps: { script: x }',
      ),
      [
        "p.yml:3:21: 'timeoutInMinutes' must be a number of minutes from 0 to 1000000, found 'soon'",
        "p.yml:4:20: 'continueOnError' must be true or false, found 'maybe'",
        "p.yml:5:16: 'displayName' must be a string, found a sequence",
        "p.yml:6:11: 'docker' must be one of none, dind, socket, rootless, found 'yes'",
        "p.yml:7:10: 'steps' must be a list of steps, found a mapping",
      ],
    ],
    [
      'job names: duplicates (case-insensitive), invalid identifiers, missing names',
      lines(
        'jobs:',
        '- { job: build, steps: [{ script: x }] }',
        '- { job: Build, steps: [{ script: x }] }',
        '- { job: 1st, steps: [{ script: x }] }',
        '- { steps: [{ script: x }] }',
        '- deployment: prod',
      ),
      [
        "p.yml:3:10: duplicate job name 'Build' (job 'build' is at 2:10)",
        "p.yml:4:10: invalid job name '1st': use letters, digits and '_', not starting with a digit",
        "p.yml:5:3: a job needs a name: 'job: <name>' (or 'deployment: <name>')",
        "p.yml:6:3: deployment job 'prod' needs 'strategy: { runOnce: { deploy: { steps } } }'",
      ],
    ],
    [
      'unknown dependencies and cycles',
      lines(
        'jobs:',
        '- { job: a, dependsOn: [b, nope], steps: [{ script: x }] }',
        '- { job: b, dependsOn: c, steps: [{ script: x }] }',
        '- { job: c, dependsOn: A, steps: [{ script: x }] }',
        '- { job: d, dependsOn: d, steps: [{ script: x }] }',
        '- { job: e, dependsOn: a, steps: [{ script: x }] }',
      ),
      [
        'p.yml:2:25: dependency cycle: a -> b -> c -> a',
        "p.yml:2:28: job 'a' depends on unknown job 'nope'",
        'p.yml:5:24: dependency cycle: d -> d',
      ],
    ],
    [
      'steps: kinds, refused step types and keys, names',
      lines(
        'steps:',
        '- task: Npm@1',
        '  inputs: { command: ci }',
        '- checkout: self',
        '- pwsh: Get-Date',
        '- bash: a',
        '  script: b',
        '- displayName: nothing to run',
        '- script: x',
        '  target: host',
        '  name: a-b',
        '- script: ""',
        '- script: y',
        '  name: s',
        '- script: z',
        '  name: S',
        '- 42',
        '- downloadBuild: x',
        '- bash: x',
        '  errorActionPreference: stop',
      ),
      [
        "p.yml:2:3: task 'Npm@1' is not supported by Slipway (or run with --allow-unsupported-tasks: it becomes a failing step)",
        "p.yml:7:3: a step does one thing: found both 'bash' and 'script'",
        "p.yml:8:3: a step needs one of 'script', 'bash', 'pwsh', 'powershell', 'checkout', 'publish', 'download', 'cache' or 'task'",
        "p.yml:10:3: 'target' is not supported yet by Slipway",
        "p.yml:11:9: invalid step name 'a-b': use letters, digits and '_', not starting with a digit",
        "p.yml:12:11: 'script' must be a non-empty string, found ''",
        "p.yml:15:3: duplicate step name 'S' (already used by a step at 13:3)",
        "p.yml:17:3: a step must be a mapping, found '42'",
        "p.yml:18:3: 'downloadBuild' is not supported yet by Slipway",
        "p.yml:20:3: unknown key 'errorActionPreference' in bash step",
      ],
    ],
    [
      'conditions are parsed, errors point inside them',
      lines(
        'steps:',
        '- script: a',
        "  condition: eq(variables.a 'x')",
        '- script: b',
        '  condition: "suceeded()"',
        '- script: c',
        '  condition: |',
        '    and(always(),',
        '        eq(1))',
        '- script: d',
        "  condition: and(succeeded(), eq(variables['Build.Reason'], 'PullRequest'))",
      ),
      [
        "p.yml:3:29: invalid condition: expected ',' or ')', found a quote",
        "p.yml:5:15: invalid condition: unknown function 'suceeded'",
        "p.yml:7:14: invalid condition: 'eq' takes 2 arguments, found 1",
      ],
    ],
    [
      'pool, demands, variables, services and containers',
      lines(
        'pool: { vmImage: ubuntu-latest, demands: ["a -gt 3", ok] }',
        'variables:',
        '- group: shared',
        '- group: "bad/name"',
        '- { group: x, name: y }',
        '- name: secretKey',
        '  value: x',
        '- value: no name',
        '- name: runtime',
        '  value: $[ variables.a ',
        'steps:',
        '- script: echo',
        'services:',
        '  bad_name: redis',
        '  db: { env: { A: 1 }, volumes: [x] }',
        'container: { image: "a b", ports: ["8080:80", "99999", x] }',
      ),
      [
        "p.yml:1:43: invalid demand 'a -gt 3': write 'name' or 'name -equals value'",
        "p.yml:4:10: invalid variable group name 'bad/name': use letters, digits, spaces, '.', '_' and '-'",
        "p.yml:5:15: unknown key 'name' in variable group reference",
        "p.yml:6:9: invalid variable name 'secretKey': names starting with 'secret' are reserved",
        "p.yml:8:3: a variables item needs a 'name'",
        "p.yml:10:10: a runtime expression must be written '$[ <expression> ]', taking the whole value",
        "p.yml:14:3: service name 'bad_name' is not a valid hostname (letters, digits, '-')",
        "p.yml:15:7: service 'db' needs an 'image'",
        "p.yml:15:24: 'volumes' is not supported yet by Slipway",
        "p.yml:16:21: 'image' must be an image name without spaces, found 'a b'",
        "p.yml:16:47: invalid port '99999': write 'containerPort' or 'hostPort:containerPort'",
        "p.yml:16:56: invalid port 'x': write 'containerPort' or 'hostPort:containerPort'",
      ],
    ],
    [
      'jobs that are not a list, or empty',
      lines('jobs: []'),
      ["p.yml:1:7: 'jobs' must list at least one job"],
    ],
    ['a job without steps', lines('jobs:', '- job: a'), ["p.yml:2:3: job 'a' needs 'steps'"]],
  ];

  it.each(cases)('%s', (_name, text, expected) => {
    expect(messages(text)).toEqual(expected);
  });
});

describe('validatePipeline on hostile or broken input', () => {
  const cases: Array<[string, string, string[]]> = [
    ['an empty file', '', ['p.yml:1:1: the pipeline file is empty']],
    ['only comments', '# nothing here\n', ['p.yml:1:1: the pipeline file is empty']],
    [
      'a document that is not a mapping',
      '- a\n',
      ["p.yml:1:1: a pipeline must be a mapping (with 'stages:', 'jobs:' or 'steps:'), found a sequence"],
    ],
    [
      'a scalar document',
      'hello\n',
      ["p.yml:1:1: a pipeline must be a mapping (with 'stages:', 'jobs:' or 'steps:'), found 'hello'"],
    ],
    [
      'several documents',
      lines('steps: [{ script: x }]', '---', 'steps: [{ script: y }]'),
      ['p.yml:2:1: a pipeline file holds one YAML document; remove the second one'],
    ],
    [
      'a YAML syntax error',
      lines('steps:', '- script: [x'),
      [
        "p.yml:2:11: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] (the '[' opened here)",
      ],
    ],
    [
      'a duplicate key',
      lines('steps: [{ script: x }]', 'steps: [{ script: y }]'),
      ["p.yml:2:1: duplicate key 'steps'"],
    ],
    [
      'an unknown alias',
      lines('steps:', '- script: *nope'),
      ["p.yml:2:11: unknown alias '*nope': no anchor '&nope' before it"],
    ],
    [
      'an alias inside its own anchor',
      lines('steps: &s', '- script: *s'),
      ["p.yml:2:11: alias '*s' refers to a node that contains it"],
    ],
    ['a custom tag', lines('steps:', '- script: !Ref x'), ["p.yml:2:16: unsupported YAML tag '!Ref'"]],
    [
      'a mapping key that is not a string',
      lines('? [a]', ': 1', 'steps: [{ script: x }]'),
      ['p.yml:1:3: mapping keys must be strings, found a sequence'],
    ],
  ];

  it.each(cases)('%s', (_name, text, expected) => {
    expect(messages(text)).toEqual(expected);
  });

  it('refuses an alias bomb (billion laughs) at the alias, quickly', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) {
      const [prev, name] = [String.fromCharCode(96 + i), String.fromCharCode(97 + i)];
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const started = performance.now();
    const found = messages(lines(...levels, 'steps: [{ script: *j }]'));
    // A bound against hanging, wide enough for a loaded two-core machine.
    expect(performance.now() - started).toBeLessThan(3000);
    expect(found).toContain(
      "p.yml:4:8: alias '*c' expands the document too far (more than 100 aliases or 100000 nodes): " +
        'refusing a possible alias bomb',
    );
  });

  it('refuses an alias bomb built from few aliases to a large anchor', () => {
    const big = `[${Array(20_000).fill('x').join(',')}]`;
    const text = lines(`a: &a ${big}`, `b: [${Array(10).fill('*a').join(',')}]`, 'steps: [{ script: x }]');
    expect(messages(text).some((m) => m.includes('possible alias bomb'))).toBe(true);
  });

  it('refuses nesting deeper than the limit without overflowing the stack', () => {
    for (const text of [
      `steps: ${'['.repeat(100_000)}${']'.repeat(100_000)}`,
      `a: ${'{a: '.repeat(70)}1${'}'.repeat(70)}`,
    ]) {
      const found = messages(text);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatch(/^p\.yml:1:\d+: the YAML nests deeper than 64 levels$/);
    }
  });

  it('bounds jobs, steps and variables, since every job copies the variables', () => {
    const jobs = Array.from({ length: 257 }, (_, i) => `- { job: j${i}, steps: [{ script: x }] }`);
    expect(messages(lines('jobs:', ...jobs))).toEqual(['p.yml:258:3: a pipeline may have at most 256 jobs']);
    const steps = Array.from({ length: 1001 }, () => '- script: x');
    expect(messages(lines('steps:', ...steps))).toEqual(['p.yml:1002:3: a job may have at most 1000 steps']);
    const variables = Array.from({ length: 1001 }, (_, i) => `  v${i}: x`);
    expect(messages(lines('variables:', ...variables, 'steps: [{ script: x }]'))).toEqual([
      'p.yml:1002:3: a variables block may define at most 1000 variables',
    ]);
  });

  it('reports the first 100 errors and counts the rest', () => {
    const found = messages(
      lines(...Array.from({ length: 150 }, (_, i) => `k${i}: x`), 'steps: [{ script: x }]'),
    );
    expect(found).toHaveLength(101);
    expect(found[99]).toBe("p.yml:100:1: unknown key 'k99' in pipeline");
    expect(found[100]).toBe('p.yml:101:1: 50 more errors not shown');
  });

  it('checks duplicate keys in linear time (yaml alone is quadratic there)', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `    E${i}: x`);
    const started = performance.now();
    expect(messages(lines('steps:', '- script: x', '  env:', ...keys, '    E7: y'))).toEqual([
      "p.yml:20004:5: duplicate key 'E7'",
    ]);
    // Linear takes ~0.1 s idle, quadratic ~3 s; the bound leaves room for a loaded machine.
    expect(performance.now() - started).toBeLessThan(2500);
  });

  it('refuses files over 1 MiB at 1:1', () => {
    const text = `steps: [{ script: x }]\n# ${'x'.repeat(1024 * 1024)}\n`;
    expect(messages(text)).toEqual(['p.yml:1:1: the pipeline file is larger than 1 MiB']);
    // Multi-byte characters count as bytes, not UTF-16 units.
    expect(messages(`# ${'é'.repeat(600 * 1024)}\n`)).toEqual([
      'p.yml:1:1: the pipeline file is larger than 1 MiB',
    ]);
  });
});

describe('retryCountOnAgentLoss (a Slipway key)', () => {
  it('is read per job and bounded', () => {
    const plan = parsePipeline(
      'jobs:\n- job: a\n  retryCountOnAgentLoss: 2\n  steps:\n  - script: x\n',
      'p.yml',
    );
    expect(plan.jobs[0]!.retryCountOnAgentLoss).toBe(2);
    expect(
      validatePipeline('jobs:\n- job: a\n  retryCountOnAgentLoss: 50\n  steps:\n  - script: x\n', 'p.yml')[0]!
        .message,
    ).toBe("p.yml:3:26: 'retryCountOnAgentLoss' is at most 10");
  });
});
