import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parsePipeline, validatePipeline } from './parse-pipeline.js';
import { jobPlan, pipelinePlan } from './plan-schema.js';
import { lines, planOf } from './test-support.js';
import type { JobPlan } from './types.js';

/** Every pipeline shipped with Slipway: the examples and the pipeline fixtures, each beside its templates. */
const repo = join(import.meta.dirname, '..', '..');
const shipped = ['examples', 'src/pipeline/fixtures'].flatMap((parent) =>
  readdirSync(join(repo, parent))
    .map((name) => join(repo, parent, name))
    .filter((folder) => existsSync(join(folder, 'azure-pipelines.yml'))),
);

function compile(folder: string) {
  const readFile = (path: string): string | undefined => {
    try {
      return readFileSync(join(folder, path), 'utf8');
    } catch {
      return undefined;
    }
  };
  return parsePipeline(readFile('azure-pipelines.yml') ?? '', 'azure-pipelines.yml', { readFile });
}

/** One pipeline that sets the optional fields the shipped ones leave out. */
const EVERYTHING = lines(
  'name: $(Date:yyyyMMdd)$(Rev:.r)',
  'lockBehavior: sequential',
  'trigger: [main]',
  'parameters:',
  '- name: flavour',
  '  default: plain',
  'variables:',
  '- name: fixed',
  '  value: one',
  '  readonly: true',
  '- name: computed',
  "  value: $[ format('{0}-x', variables.fixed) ]",
  'jobs:',
  '- job: all',
  '  pool:',
  '    name: default',
  '    demands: [docker, Agent.OS -equals Linux]',
  '  timeoutInMinutes: 5',
  '  cancelTimeoutInMinutes: 2',
  '  retryCountOnAgentLoss: 2',
  '  continueOnError: true',
  '  workspace: { clean: all }',
  '  container:',
  '    image: node:20',
  '    env: { A: b }',
  '    ports: ["8080:80"]',
  '  services:',
  '    db: { image: postgres:16, env: { POSTGRES_PASSWORD: pw } }',
  '  steps:',
  '  - checkout: self',
  '    clean: true',
  '    fetchDepth: 1',
  '    submodules: recursive',
  '    path: src',
  '  - pwsh: Write-Host hi',
  '    errorActionPreference: continue',
  '    ignoreLASTEXITCODE: true',
  '  - bash: echo hi',
  '    name: say',
  '    workingDirectory: /tmp',
  '    failOnStderr: true',
  '    retryCountOnTaskFailure: 3',
  '    timeoutInMinutes: 1',
  '    condition: always()',
  '    continueOnError: true',
  '    env: { X: y }',
  '  - publish: out',
  '    artifact: bin',
  '  - download: current',
  '    artifact: bin',
  '    patterns: "**/*.js"',
  '    path: $(Pipeline.Workspace)/bin',
  '- deployment: ship',
  '  environment: staging',
  '  dependsOn: all',
  '  strategy:',
  '    runOnce:',
  '      deploy:',
  '        steps:',
  '        - script: echo ship',
  '- job: legs',
  '  strategy:',
  '    maxParallel: 1',
  '    matrix:',
  '      a: { leg: one }',
  '      b: { leg: two }',
  '  steps:',
  '  - script: echo $(leg)',
);

describe('the plan schema', () => {
  it('reads every shipped pipeline’s plan back unchanged: it knows every field the pipeline emits', () => {
    expect(shipped.length).toBeGreaterThanOrEqual(4);
    for (const folder of shipped) {
      const plan = compile(folder);
      expect(pipelinePlan.parse(plan), folder).toEqual(plan);
      for (const job of plan.jobs) expect(jobPlan.parse(job), `${folder}: ${job.name}`).toEqual(job);
    }
  });

  it('reads back a plan that sets the optional fields too', () => {
    const plan = planOf(EVERYTHING);
    const all = plan.jobs[0]!;
    expect(all.steps.map((s) => s.kind)).toEqual(['checkout', 'pwsh', 'bash', 'publish', 'download']);
    expect(all).toMatchObject({
      readonlyVariables: ['fixed'],
      runtimeVariables: { computed: expect.any(String) },
      workspace: { clean: 'all' },
      services: { db: { image: 'postgres:16' } },
    });
    expect(all.pool.demands).toContainEqual({ name: 'Agent.OS', op: 'equals', value: 'Linux' });
    expect(plan.jobs.map((j) => j.parallelGroup ?? j.environment ?? null)).toEqual([
      null,
      'staging',
      'legs',
      'legs',
    ]);
    expect(pipelinePlan.parse(plan)).toEqual(plan);
    // Parsed again after the JSON round trip the plan makes to the agent.
    for (const job of plan.jobs) expect(jobPlan.parse(JSON.parse(JSON.stringify(job)))).toEqual(job);
  });

  it('reads back every plan of the pipeline above with characters changed, whenever it still compiles', () => {
    const edits = fc.array(fc.tuple(fc.nat(EVERYTHING.length), fc.string({ maxLength: 3 })), {
      minLength: 1,
      maxLength: 3,
    });
    let compiled = 0;
    fc.assert(
      fc.property(edits, (changes) => {
        let text = EVERYTHING;
        for (const [at, insert] of changes) text = text.slice(0, at) + insert + text.slice(at + 1);
        if (validatePipeline(text, 'p.yml').length > 0) return;
        compiled++;
        const plan = planOf(text);
        expect(pipelinePlan.parse(plan)).toEqual(plan);
      }),
      // Seeded: about one edit in ten leaves a pipeline that compiles, and every run sees as many.
      { numRuns: 300, seed: 11 },
    );
    expect(compiled).toBeGreaterThan(10);
  });

  it('refuses a malformed job plan, naming the field', () => {
    const job: JobPlan = planOf(EVERYTHING).jobs[0]!;
    const broken = {
      ...job,
      steps: job.steps.map((s, i) => (i === 1 ? { ...s, kind: 'python' } : s)),
      pool: { name: 'default', demands: [{ name: 'docker', op: 'matches' }] },
      timeoutInMinutes: '5',
    };
    const result = jobPlan.safeParse(broken);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.')).sort()).toEqual([
      'pool.demands.0.op',
      'steps.1.kind',
      'timeoutInMinutes',
    ]);
    expect(z.prettifyError(result.error!)).toMatch(/at steps\[1\]\.kind/);
  });
});
