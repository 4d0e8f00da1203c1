import { expect, it } from 'vitest';
import { parsePipeline, validatePipeline } from '../pipeline/index.js';
import { PipelineErrors } from '../shared/errors.js';
import { withTaskCatalog } from './task-catalog.js';

const scripts = 'steps:\n- script: echo hi\n';
const task = "steps:\n- task: CopyFiles@2\n  inputs:\n    Contents: '**'\n    TargetFolder: out\n";
const badTask = 'steps:\n- script: echo hi\n- task: CopyFiles@2\n  inputs:\n    Bogus: x\n';

it('checks a pipeline of scripts once, with no task catalog needed', async () => {
  let passes = 0;
  const plan = await withTaskCatalog((tasks) => {
    passes++;
    return parsePipeline(scripts, 'p.yml', { tasks });
  });
  expect(passes).toBe(1);
  expect(plan.jobs[0]?.steps).toHaveLength(1);
});

it('checks a pipeline with task steps against the real catalog: known tasks pass, wrong inputs are errors', async () => {
  const plan = await withTaskCatalog((tasks) => parsePipeline(task, 'p.yml', { tasks }));
  expect(plan.jobs[0]?.steps[0]?.task).toMatchObject({ name: 'CopyFiles', version: 2 });
  const errors = await withTaskCatalog((tasks) => validatePipeline(badTask, 'p.yml', { tasks }));
  expect(errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.detail}`)).toEqual([
    expect.stringMatching(/^p\.yml:3:3: task 'CopyFiles@2': unknown input 'Bogus' \(inputs: SourceFolder, /),
    "p.yml:3:3: task 'CopyFiles@2': input 'TargetFolder' is required",
  ]);
  await expect(
    withTaskCatalog((tasks) => parsePipeline('steps:\n- task: NoSuchTask@1\n', 'p.yml', { tasks })),
  ).rejects.toThrow(PipelineErrors);
});
