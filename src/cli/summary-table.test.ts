import { describe, expect, it } from 'vitest';
import type { RunView } from '../protocol/schemas.js';
import { summaryTable } from './render.js';

const job = (name: string, reason: string | null) =>
  ({
    name,
    status: 'completed',
    result: 'failed',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:01.500Z',
    agentName: 'default-1',
    reason,
  }) as RunView['jobs'][number];

const run = (jobs: RunView['jobs']) =>
  ({
    number: 7,
    buildNumber: '7',
    status: 'completed',
    result: 'failed',
    createdAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:02.000Z',
    tags: [],
    jobs,
  }) as unknown as RunView;

describe('summaryTable', () => {
  it('keeps one line per job within the terminal, however long or multi-line a reason', () => {
    const reason = `no agent could ever meet these demands:\n  cuda -equals 12\n  ${'x'.repeat(300)}`;
    const table = summaryTable(run([job('build', reason), job('test', 'exit code 1')]), 80);
    const lines = table.split('\n').filter((l) => l.startsWith('build') || l.startsWith('test'));
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(79);
    expect(lines[0]).toContain('no agent could ever meet these demands: cuda');
    expect(lines[0]).toMatch(/…$/);
    expect(lines[1]).toMatch(/^test {3}failed {2}1\.5s {2}default-1 {2}exit code 1$/);
  });
});
