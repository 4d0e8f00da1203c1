import { expect, it } from 'vitest';
import { useTestFleets } from '../test-support/fleets.js';
import { runPipeline } from './fleet-test-support.js';

const fleets = useTestFleets();

it('with --disk, a job that fills its work folder or /tmp fails alone, and the next job runs normally', async () => {
  const { client, adminToken } = await fleets.start({
    resources: { diskBytes: 32 * 1024 ** 2, memoryBytes: 512 * 1024 ** 2 },
  });
  const { run, log } = await runPipeline(
    client,
    adminToken,
    `jobs:
- job: fillwork
  steps:
  - bash: dd if=/dev/zero of=big bs=1M count=100
- job: filltmp
  steps:
  - bash: dd if=/dev/zero of=/tmp/big bs=1M count=100
- job: after
  dependsOn: [fillwork, filltmp]
  condition: always()
  steps:
  - bash: df -h . /tmp | tail -n 2 && echo still fine
`,
  );
  const byName = Object.fromEntries(run.jobs.map((j) => [j.name, j]));
  expect(byName.fillwork!.result).toBe('failed');
  expect(byName.filltmp!.result).toBe('failed');
  expect(log).toMatch(/No space left on device/);
  expect(byName.after!.result).toBe('succeeded');
  expect(log).toContain('still fine');
}, 120_000);
