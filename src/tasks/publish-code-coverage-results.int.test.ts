import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runView } from '../protocol/schemas.js';
import { runCli, serverWithAgent, spawnCli } from '../test-support/harness.js';
import { COBERTURA, JACOCO } from './coverage/fixtures.js';

const server = serverWithAgent('coverage-agent');

async function workspace(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-coverage-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

const PIPELINE = `
jobs:
- job: unit
  steps:
  - task: PublishCodeCoverageResults@1
    inputs:
      codeCoverageTool: Cobertura
      summaryFileLocation: $(System.DefaultWorkingDirectory)/py/coverage.xml
      reportDirectory: py/htmlcov
  - task: PublishCodeCoverageResults@2
    inputs:
      summaryFileLocation: |
        java/**/jacoco.xml
        broken/*.xml
  - task: DownloadPipelineArtifact@2
    inputs: { artifact: coverage-unit, path: got }
  - task: DownloadPipelineArtifact@2
    inputs: { artifact: coverage-unit-2, path: got2 }
  - bash: |
      cd $(Pipeline.Workspace) && (cd got && find . -type f | sort; cd ../got2 && find . -type f | sort) | sed 's/^/kept: /'
- job: empty
  steps:
  - task: PublishCodeCoverageResults@2
    inputs: { summaryFileLocation: none/*.xml, failIfCoverageEmpty: true }
`;

it('shows Cobertura and JaCoCo summaries in the log, the CLI and the API, and keeps them as artifacts', async () => {
  const dir = await workspace({
    'azure-pipelines.yml': PIPELINE,
    'py/coverage.xml': COBERTURA,
    'py/htmlcov/index.html': '<html>report</html>',
    'java/target/site/jacoco/jacoco.xml': JACOCO,
    'broken/cov.xml': '<coverage><packages></coverage>',
  });
  const { code, output } = await runCli(server(), ['--dir', dir]);
  expect(output).toContain('Coverage (Cobertura) py/coverage.xml: lines 80.0% (8/10), branches 50.0% (1/2)');
  expect(output).toContain(
    'Coverage (JaCoCo) java/target/site/jacoco/jacoco.xml: lines 75.0% (9/12), branches 50.0% (2/4)',
  );
  // A malformed file is a warning naming it; the others are read.
  expect(output).toContain(
    "warning: broken/cov.xml is not a readable Cobertura or JaCoCo coverage summary: line 1, column 21: closing tag 'coverage' does not match",
  );
  const kept = [...output.matchAll(/kept: (\S+)/g)].map((m) => m[1]);
  expect(kept).toEqual(['./coverage.xml', './report/index.html', './jacoco.xml']);
  expect(output).toContain('no coverage summary matches none/*.xml (failIfCoverageEmpty)');
  // The run summary after the jobs.
  expect(output).toContain(
    '  unit · py/coverage.xml (Cobertura): lines 80.0% (8/10), branches 50.0% (1/2) · artifact coverage-unit',
  );
  expect(code).toBe(1);

  const { body } = await server().client.request<unknown[]>('runs?limit=1', { token: server().adminToken });
  const run = runView.parse(body[0]);
  const unit = run.jobs.find((j) => j.name === 'unit');
  expect(unit?.result).toBe('succeededWithIssues');
  expect(unit?.coverage).toEqual([
    {
      tool: 'Cobertura',
      file: 'py/coverage.xml',
      lines: { covered: 8, total: 10 },
      branches: { covered: 1, total: 2 },
      artifact: 'coverage-unit',
    },
    {
      tool: 'JaCoCo',
      file: 'java/target/site/jacoco/jacoco.xml',
      lines: { covered: 9, total: 12 },
      branches: { covered: 2, total: 4 },
      artifact: 'coverage-unit-2',
    },
  ]);

  const status = spawnCli(['status', run.id], {
    SLIPWAY_URL: server().url,
    SLIPWAY_TOKEN: server().adminToken,
  });
  expect(await status.exited).toBe(0);
  expect(status.output()).toContain(
    '  unit · java/target/site/jacoco/jacoco.xml (JaCoCo): lines 75.0% (9/12), branches 50.0% (2/4) · artifact coverage-unit-2',
  );
});
