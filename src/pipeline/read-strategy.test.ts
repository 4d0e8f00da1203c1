import { describe, expect, it } from 'vitest';
import { errorsOf, lines, planOf } from './test-support.js';

describe('strategy: matrix and parallel', () => {
  it('makes one job per matrix leg, with the leg’s variables in its container and pool', () => {
    const plan = planOf(
      lines(
        'resources:',
        '  containers:',
        '  - { container: node20, image: "node:20", env: { CI: yes } }',
        'jobs:',
        '- job: test',
        '  strategy:',
        '    maxParallel: 2',
        '    matrix:',
        "      'Linux Node 20': { image: ubuntu-latest, box: node20 }",
        '      mac:',
        '        image: macos-latest',
        '        box: node:22-$(flavour)',
        '        flavour:',
        '      linux_1: { image: ubuntu-latest, box: alpine }',
        '  pool: { vmImage: $(image), demands: [os -equals $(image)] }',
        '  container: $(box)',
        '  steps: [{ script: npm test }]',
        '- job: test_mac',
        '  dependsOn: test',
        '  steps: [{ script: report }]',
      ),
    );
    expect(
      plan.jobs.map((j) => [
        j.name,
        j.displayName,
        j.shortName,
        j.leg,
        j.pool,
        j.container?.image,
        j.dependsOn,
      ]),
    ).toEqual([
      [
        'test_Linux_Node_20',
        'test (Linux Node 20)',
        'test',
        'Linux Node 20',
        {
          name: 'default',
          demands: [{ name: 'os', op: 'equals', value: 'ubuntu-latest' }],
          vmImage: 'ubuntu-latest',
        },
        'node:20',
        [],
      ],
      // A leg never takes the name of a job someone wrote.
      [
        'test_mac_2',
        'test (mac)',
        'test',
        'mac',
        {
          name: 'default',
          demands: [{ name: 'os', op: 'equals', value: 'macos-latest' }],
          vmImage: 'macos-latest',
        },
        'node:22-',
        [],
      ],
      [
        'test_linux_1',
        'test (linux_1)',
        'test',
        'linux_1',
        {
          name: 'default',
          demands: [{ name: 'os', op: 'equals', value: 'ubuntu-latest' }],
          vmImage: 'ubuntu-latest',
        },
        'alpine',
        [],
      ],
      [
        'test_mac',
        'test_mac',
        undefined,
        undefined,
        { name: 'default', demands: [] },
        undefined,
        ['test_Linux_Node_20', 'test_mac_2', 'test_linux_1'],
      ],
    ]);
    expect(plan.jobs[0]?.container).toEqual({ image: 'node:20', env: { CI: 'yes' }, ports: [] });
    expect(plan.jobs[1]?.variables).toEqual({
      'System.JobPositionInPhase': '2',
      'System.TotalJobsInPhase': '3',
      image: 'macos-latest',
      box: 'node:22-$(flavour)',
      flavour: '',
    });
    expect(plan.jobs.slice(0, 3).map((j) => [j.parallelGroup, j.maxParallel])).toEqual([
      ['test', 2],
      ['test', 2],
      ['test', 2],
    ]);
  });

  it('makes N copies for parallel: N, inside stages too', () => {
    const plan = planOf(
      lines(
        'stages:',
        '- stage: s',
        '  jobs:',
        '  - job: shard',
        '    strategy: { parallel: 3 }',
        '    steps: [{ script: "test --shard $(System.JobPositionInPhase)/$(System.TotalJobsInPhase)" }]',
      ),
    );
    expect(
      plan.jobs.map((j) => [j.name, j.displayName, j.leg, j.variables, j.parallelGroup, j.maxParallel]),
    ).toEqual([
      [
        's.shard_1',
        'shard (1 of 3)',
        '1',
        { 'System.JobPositionInPhase': '1', 'System.TotalJobsInPhase': '3' },
        's.shard',
        undefined,
      ],
      [
        's.shard_2',
        'shard (2 of 3)',
        '2',
        { 'System.JobPositionInPhase': '2', 'System.TotalJobsInPhase': '3' },
        's.shard',
        undefined,
      ],
      [
        's.shard_3',
        'shard (3 of 3)',
        '3',
        { 'System.JobPositionInPhase': '3', 'System.TotalJobsInPhase': '3' },
        's.shard',
        undefined,
      ],
    ]);
  });

  it('accepts a top-level strategy beside top-level steps', () => {
    const plan = planOf(
      lines(
        'strategy: { matrix: { a: { x: 1 }, b: { x: 2 } } }',
        'continueOnError: true',
        'steps: [{ script: echo $(x) }]',
      ),
    );
    expect(plan.jobs.map((j) => [j.name, j.variables.x, j.continueOnError])).toEqual([
      ['job_a', '1', true],
      ['job_b', '2', true],
    ]);
  });

  const errors: Array<[string, string, string[]]> = [
    [
      'strategies written wrong',
      lines(
        'jobs:',
        '- job: a',
        '  strategy: { matrix: { x: { v: 1 } }, parallel: 2 }',
        '  steps: [{ script: x }]',
        '- job: b',
        '  strategy: { matrix: {} }',
        '  steps: [{ script: x }]',
        '- job: c',
        "  strategy: { matrix: '$[ variables.legs ]' }",
        '  steps: [{ script: x }]',
        '- job: d',
        '  strategy: { parallel: 0, maxParallel: many }',
        '  steps: [{ script: x }]',
        '- job: e',
        '  strategy:',
        '    matrix:',
        '      one: [x]',
        "      two: { secretThing: 1, v: '$[ 1 ]' }",
        '  steps: [{ script: x }]',
        '- job: f',
        '  strategy: {}',
        '  steps: [{ script: x }]',
      ),
      [
        "p.yml:3:40: a strategy has either 'matrix' or 'parallel', not both",
        "p.yml:6:23: 'matrix' must define at least one leg",
        "p.yml:9:23: a matrix from a runtime expression ('$[ ]') is not supported yet by Slipway",
        "p.yml:12:25: 'parallel' must be from 1 to 256, found 0",
        "p.yml:12:41: 'maxParallel' must be a whole number from 0 to 1000000, found 'many'",
        "p.yml:17:12: matrix leg 'one' must be a mapping of variables, found a sequence",
        "p.yml:18:14: invalid variable name 'secretThing': names starting with 'secret' are reserved",
        "p.yml:18:33: a runtime expression ('$[ ]') cannot be used here",
      ],
    ],
    [
      'legs count as jobs',
      lines(
        'jobs:',
        '- job: a',
        '  strategy: { parallel: 200 }',
        '  steps: [{ script: x }]',
        '- job: b',
        '  strategy: { parallel: 100 }',
        '  steps: [{ script: x }]',
      ),
      ['p.yml:5:3: a pipeline may have at most 256 jobs, counting each matrix and parallel leg'],
    ],
  ];

  it.each(errors)('%s', (_name, text, expected) => {
    expect(errorsOf(text)).toEqual(expected);
  });
});

describe('pools', () => {
  it('reads bare names, demands as a string or a list, and keeps vmImage for the server', () => {
    const plan = planOf(
      lines(
        'jobs:',
        '- { job: a, pool: linux, steps: [{ script: x }] }',
        '- { job: b, pool: { name: linux, demands: docker }, steps: [{ script: x }] }',
        '- { job: c, pool: { vmImage: ubuntu-22.04 }, steps: [{ script: x }] }',
        "- { job: d, pool: { name: 'Azure Pipelines', vmImage: ubuntu-22.04 }, steps: [{ script: x }] }",
        '- { job: e, workspace: { clean: all }, steps: [{ script: x }] }',
      ),
    );
    expect(plan.jobs.map((j) => j.pool)).toEqual([
      { name: 'linux', demands: [] },
      { name: 'linux', demands: [{ name: 'docker', op: 'exists' }] },
      { name: 'default', demands: [], vmImage: 'ubuntu-22.04' },
      { name: 'default', demands: [], vmImage: 'ubuntu-22.04' },
      { name: 'default', demands: [] },
    ]);
    expect(plan.jobs[4]?.workspace).toEqual({ clean: 'all' });
  });

  it.each([
    [
      'pool: { name: mine, vmImage: x }',
      "p.yml:1:21: a pool has either 'name' or 'vmImage', not both (pool 'mine')",
    ],
    [
      'pool: [a]',
      "p.yml:1:7: 'pool' must be a pool name or a mapping with name, demands or vmImage, found a sequence",
    ],
    [
      'workspace: { clean: some }',
      "p.yml:1:21: 'clean' must be one of outputs, resources, all, found 'some'",
    ],
  ])('%s', (line, expected) => {
    expect(errorsOf(lines(line, 'steps: [{ script: x }]'))).toEqual([expected]);
  });
});
