import { describe, expect, it } from 'vitest';
import { stepPlan } from './plan-schema.js';
import { errorsOf, lines, planOf } from './test-support.js';

describe('cache steps', () => {
  it('reads a cache step and appends its post-job save, last cache first', () => {
    const plan = planOf(
      lines(
        'steps:',
        '- cache:',
        '    key: \'npm | "$(Agent.OS)" | package-lock.json\'',
        '    restoreKeys:',
        '    - npm | "$(Agent.OS)"',
        '    - npm',
        '    path: node_modules',
        '    cacheHitVar: CACHE_RESTORED',
        '  displayName: npm cache',
        "  condition: ne(variables['nocache'], 'true')",
        '- script: npm ci',
        '- cache: { key: pip | requirements.txt, path: .venv }',
      ),
    );
    const steps = plan.jobs[0]!.steps;
    expect(steps.map((s) => [s.kind, s.displayName])).toEqual([
      ['cache', 'npm cache'],
      ['script', 'Run: npm ci'],
      ['cache', 'Cache .venv'],
      ['cacheSave', 'Post-job: Cache .venv'],
      ['cacheSave', 'Post-job: npm cache'],
    ]);
    expect(steps[0]).toMatchObject({
      condition: "ne(variables['nocache'], 'true')",
      cache: {
        key: 'npm | "$(Agent.OS)" | package-lock.json',
        restoreKeys: ['npm | "$(Agent.OS)"', 'npm'],
        path: 'node_modules',
        cacheHitVar: 'CACHE_RESTORED',
      },
    });
    expect(steps[4]).toMatchObject({
      condition: 'succeeded()',
      cacheSave: { restoreStep: 0, path: 'node_modules' },
    });
    expect(steps[3]).toMatchObject({ cacheSave: { restoreStep: 2, restoreKeys: [] } });
    for (const step of steps) expect(stepPlan.parse(step)).toEqual(step);
  });

  it.each(['Cache@2', 'CacheBeta@0', 'CacheBeta@1', 'cache@2'])(
    'reads task %s onto the same step',
    (task) => {
      const plan = planOf(
        lines(
          'steps:',
          `- task: ${task}`,
          '  inputs:',
          '    key: \'yarn | "$(Agent.OS)" | yarn.lock\'',
          '    restoreKeys: |',
          '      yarn | "$(Agent.OS)"',
          '      yarn',
          '    path: $(Pipeline.Workspace)/.yarn',
          '    cacheHitVar: HIT',
          '  displayName: Cache Yarn packages',
          '  continueOnError: true',
        ),
      );
      const [restore, save] = plan.jobs[0]!.steps;
      expect(restore).toMatchObject({
        kind: 'cache',
        displayName: 'Cache Yarn packages',
        continueOnError: true,
        cache: {
          key: 'yarn | "$(Agent.OS)" | yarn.lock',
          restoreKeys: ['yarn | "$(Agent.OS)"', 'yarn'],
          path: '$(Pipeline.Workspace)/.yarn',
          cacheHitVar: 'HIT',
        },
      });
      expect(save).toMatchObject({ kind: 'cacheSave', cacheSave: { restoreStep: 0 } });
    },
  );

  it('names file, line, column and field for bad cache inputs', () => {
    expect(
      errorsOf(
        lines(
          'steps:',
          '- cache:',
          '    key: npm || lock',
          '    path: node_modules',
          '    cacheHitVar: not a name',
          '    restorekeys: [npm]',
          '- cache: { path: x }',
          '- task: Cache@2',
          '  inputs: { key: k, path: p, salt: x }',
          '- task: Cache@2',
          '- cache: node_modules',
          '- cache: { key: k, path: p, restoreKeys: [{ a: b }] }',
        ),
      ),
    ).toEqual([
      "p.yml:3:10: 'key': segment 2 of 'npm || lock' is empty (segments are separated by '|')",
      "p.yml:5:18: 'cacheHitVar' must be a variable name, found 'not a name'",
      "p.yml:6:5: unknown key 'restorekeys' in cache (did you mean 'restoreKeys'?)",
      "p.yml:7:3: cache needs 'key'",
      "p.yml:9:30: unknown key 'salt' in inputs of task 'Cache@2'",
      "p.yml:10:3: task 'Cache@2' needs 'inputs' with 'key' and 'path'",
      "p.yml:11:10: 'cache' must be a mapping, found 'node_modules'",
      "p.yml:12:43: 'restoreKeys' items must be non-empty strings, found a mapping",
    ]);
  });

  it('still refuses other tasks', () => {
    expect(errorsOf(lines('steps:', '- task: NodeTool@0'))[0]).toMatch(/task 'NodeTool@0' is not supported/);
  });
});
