import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectTemplateFiles, parsePipeline } from './parse-pipeline.js';

const root = join(import.meta.dirname, 'fixtures', 'azure-dialect');
const readFile = (path: string): string | undefined => {
  try {
    return readFileSync(join(root, path), 'utf8');
  } catch {
    return undefined;
  }
};
const text = readFile('azure-pipelines.yml') ?? '';

describe('the azure-dialect fixture (a pipeline with its templates beside it)', () => {
  it('compiles to stages, legs, shards and a deployment job', () => {
    const plan = parsePipeline(text, 'azure-pipelines.yml', { readFile });
    expect(plan.jobs.map((j) => [j.name, j.displayName, j.dependsOn])).toEqual([
      ['Build.compile_linux', 'compile (linux)', []],
      ['Build.compile_alpine', 'compile (alpine)', []],
      ['Build.test_1', 'test (1 of 2)', ['Build.compile_linux', 'Build.compile_alpine']],
      ['Build.test_2', 'test (2 of 2)', ['Build.compile_linux', 'Build.compile_alpine']],
      ['Deploy.web', 'web', ['Build.compile_linux', 'Build.compile_alpine', 'Build.test_1', 'Build.test_2']],
    ]);
    const [linux, , , , web] = plan.jobs;
    expect(linux?.variables).toMatchObject({
      configuration: 'release',
      greeting: 'hello',
      platform: 'linux',
    });
    expect(linux?.container?.image).toBe('slipway/base:latest');
    expect(linux?.steps.map((s) => [s.kind, s.displayName])).toEqual([
      ['checkout', 'Checkout self'],
      ['script', 'Build $(platform)'],
      ['bash', 'Set version'],
      ['publish', "Publish artifact 'bin-$(platform)'"],
    ]);
    expect(web).toMatchObject({
      deployment: true,
      environment: 'staging',
      checkout: 'none',
      stageCondition: "and(succeeded(), ne(variables['Build.Reason'], 'PullRequest'))",
      runtimeVariables: { version: "stageDependencies.Build.compile.outputs['linux.setver.version']" },
    });
    expect(plan.parameters).toEqual({ runTests: true, platforms: ['linux', 'alpine'] });
    expect(plan.triggers?.pr).toBe('none');
  });

  it('drops the test jobs and their template when runTests is false', () => {
    const files = collectTemplateFiles(text, 'azure-pipelines.yml', readFile, {
      parameters: { runTests: 'false' },
    });
    expect(Object.keys(files).sort()).toEqual(['templates/build-steps.yml', 'templates/vars.yml']);
    const plan = parsePipeline(text, 'azure-pipelines.yml', {
      readFile: (p) => files[p],
      parameters: { runTests: 'false' },
    });
    expect(plan.jobs.map((j) => j.name)).toEqual([
      'Build.compile_linux',
      'Build.compile_alpine',
      'Deploy.web',
    ]);
  });
});
